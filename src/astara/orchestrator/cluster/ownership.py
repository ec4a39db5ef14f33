"""What this orchestrator owns in a cluster, kept up to date once per heartbeat.

``tick(known)`` heartbeats through the ``Membership``, rebuilds the ``Ring`` from the
group, and for the resources it gives this member takes (or extends) their leases;
it answers which resources to hand to the workers (``adopt``: lease just taken) and
which to take from them (``release``: the ring gave them away, or the leases ran out).
A resource is only ever handed over once its lease is held, so a resource has one
state machine in the cluster, on the member holding its lease.

Coordination service down: nothing is renewed, so what this member owned stays owned
until the leases end (one lease at most); then everything is released and the member
says so (log, ``status()``), acting on nothing until the service answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from astara.orchestrator.cluster.leases import Leases, MemberBoard
from astara.orchestrator.cluster.membership import CoordinationDown, Membership
from astara.orchestrator.cluster.ring import Ring
from astara.orchestrator.cluster.settings import CoordinationSettings

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rebalance:
    adopt: frozenset[str] = frozenset()
    release: frozenset[str] = frozenset()


def rebalance(held: Iterable[str], wanted: Iterable[str], taken: Iterable[str]) -> Rebalance:
    """Pure: what changes hands when the ring wants ``wanted`` and the lease table let
    us hold ``taken`` of them, having held ``held``."""
    held, taken = set(held), set(taken)
    return Rebalance(adopt=frozenset(taken - held),
                     release=frozenset(held - (set(wanted) & taken)))


class Ownership:
    def __init__(self, s: CoordinationSettings, membership: Membership, leases: Leases,
                 board: MemberBoard | None = None, rpc_url: str = "",
                 clock: Callable[[], float] = time.time):
        self.s, self.membership, self.leases, self.board = s, membership, leases, board
        self.name, self.rpc_url, self.clock = s.member_name, rpc_url, clock
        self.ring = Ring.of([])
        self.members: dict[str, dict] = {}
        self.held: dict[str, int] = {}  # resource id -> lease epoch
        # Taken by ``admit`` since the last round began: the caller's list of known
        # resources may have been read before they were added to it.
        self._admitted: set[str] = set()
        self.last_ok: float | None = None  # the coordination service's last answer
        self.down: str | None = None  # why it does not answer (None: it does)
        self._acting = True
        self._lock = threading.Lock()

    @property
    def owner(self) -> str:
        return self.leases.owner

    def tick(self, known: Iterable[str]) -> Rebalance:
        """One heartbeat and round: ``known`` are the resources this member knows of
        (read before the call: ``admit`` may take others meanwhile)."""
        now = self.clock()
        try:
            members = self.membership.beat()
        except CoordinationDown as exc:
            return self._down(str(exc), now)
        with self._lock:
            if self.down is not None or not self._acting:
                LOG.warning("cluster: coordination service answers again: ring rebuilt "
                            "with %d members %s", len(members), sorted(members))
            self.down, self.last_ok, self._acting = None, now, True
            if set(members) != set(self.members):
                LOG.info("cluster: members %s", sorted(members))
            self.members, self.ring = members, Ring.of(members)
            # A resource admitted after ``known`` was read is not in it: kept while the
            # ring gives it to us (released, it would come back a beat later, its first
            # pass fenced); one forgotten since (deleted) goes at the next round.
            admitted, self._admitted = self._admitted & set(self.held), set()
            wanted = self.ring.mine(self.name, set(known) | admitted)
            lost = set(self.held) - wanted
            if lost:
                self.leases.release(lost)
            taken = self.leases.take(wanted)
            change = rebalance(self.held, wanted, taken)
            self.held = taken
        self._write_board(now, "ok")
        if change.adopt or change.release:
            LOG.info("cluster: adopting %d, releasing %d (%d held)", len(change.adopt),
                     len(change.release), len(taken))
        return change

    def _down(self, reason: str, now: float) -> Rebalance:
        with self._lock:
            if self.down is None:
                LOG.error("cluster: coordination service unavailable (%s): the %d resources "
                          "held are served until their leases end (%.0f s at most), then "
                          "none", reason, len(self.held), self.s.lease)
            self.down = reason
            ended = self.last_ok is None or now - self.last_ok >= self.s.lease
            change = Rebalance()
            if ended and self._acting:
                self._acting = False
                change = Rebalance(release=frozenset(self.held))
                self.held = {}
                LOG.error("cluster: leases ended without the coordination service: acting "
                          "on no resource until it answers again")
        self._write_board(now, f"down: {reason}")
        return change

    def _write_board(self, now: float, state: str) -> None:
        if self.board is None:
            return
        try:
            self.board.write(self.name, self.owner, self.rpc_url, now, state)
        except Exception as exc:  # the view only: never stops the heartbeat
            LOG.warning("cluster: cannot write our member row: %s", exc)

    def admit(self, ids: Iterable[str]) -> set[str]:
        """Of ``ids``, those this member may hand to its workers now: held already, or
        given by the ring and their lease taken now (a resource just created)."""
        ids = set(ids)
        with self._lock:
            mine = {rid for rid in ids if rid in self.held}
            if self.down is not None or not self._acting:
                return mine
            new = {rid for rid in ids - mine if self.ring.owner(rid) == self.name}
            if new:
                taken = self.leases.take(new)
                self.held.update(taken)
                self._admitted.update(taken)
                mine |= set(taken)
            return mine

    def owns(self, resource_id: str) -> bool:
        with self._lock:
            return resource_id in self.held

    def owner_of(self, resource_id: str) -> tuple[str | None, dict]:
        """The member the ring gives ``resource_id`` to, and its capabilities."""
        with self._lock:
            name = self.ring.owner(resource_id)
            return name, dict(self.members.get(name, {})) if name else {}

    def group(self) -> dict[str, dict]:
        """The members in the group at the last heartbeat, with their capabilities."""
        with self._lock:
            return {name: dict(caps) for name, caps in self.members.items()}

    def leave(self) -> None:
        with self._lock:
            held, self.held = set(self.held), {}
        try:
            if held:
                self.leases.release(held)
        finally:
            self.membership.leave()

    def status(self) -> dict:
        with self._lock:
            return {"member": self.name, "owner": self.owner,
                    "coordination": "ok" if self.down is None else f"down: {self.down}",
                    "acting": self._acting, "held": len(self.held),
                    "last_ok": self.last_ok, "members": sorted(self.members),
                    "shares": self.ring.shares()}
