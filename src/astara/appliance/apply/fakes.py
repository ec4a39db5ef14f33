"""In-memory twins of the apply ports, for unit tests of `converge`, `apply.dhcp`
and `apply.haproxy`.

They keep the state a real namespace would have and record the actions taken, so
tests assert behaviour ("dnsmasq was reloaded, not restarted") rather than calls.
Set `fail_on` to make a port raise, to exercise rollback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from astara.appliance.apply.errors import CommandFailed, ExitedAtStart, ValidationFailed
from astara.appliance.observe.state import Address, Link, Neighbour, NetState, Route
from astara.appliance.plan.ops import (
    AddAddress,
    AddNeighbour,
    AddRoute,
    DelAddress,
    DelNeighbour,
    Op,
    SetLink,
)


class FakeNetlink:
    def __init__(self, links: list[Link], fail_on: Op | None = None) -> None:
        self.links = {link.ifname: link for link in links}
        self.addresses: set[Address] = set()
        self.routes: set[Route] = set()
        self.neighbours: set[Neighbour] = set()  # PERMANENT ones
        self.log: list[Op] = []
        self.fail_on = fail_on

    def __call__(self) -> FakeNetlink:  # used as the Ports.netlink factory
        return self

    def observe(self, full: bool = True) -> NetState:
        if not full:
            return NetState(tuple(self.links.values()), frozenset(self.addresses))
        return NetState(tuple(self.links.values()), frozenset(self.addresses),
                        frozenset(self.routes), frozenset(self.neighbours))

    def run(self, ops: Sequence[Op], done: list[Op]) -> None:
        for op in ops:
            if self.run_one(op):
                done.append(op)

    def run_one(self, op: Op) -> bool:
        """Whether `op` took effect (adding what exists, deleting what is gone: no)."""
        if op == self.fail_on:
            raise OSError(101, f"injected failure on {op}")
        self.log.append(op)
        if isinstance(op, SetLink):
            self.links[op.ifname] = dataclasses.replace(self.links[op.ifname], mtu=op.mtu,
                                                        up=op.up)
            return True
        if isinstance(op, AddNeighbour | DelNeighbour):  # one entry per (ifname, ip)
            before = set(self.neighbours)
            self.neighbours = {n for n in self.neighbours
                               if (n.ifname, n.ip) != (op.ifname, op.ip)}
            if isinstance(op, AddNeighbour):
                self.neighbours.add(Neighbour(op.ifname, op.ip, op.mac))
            return self.neighbours != before
        table: set = self.addresses if isinstance(op, AddAddress | DelAddress) else self.routes
        item = (Address(op.ifname, str(ipaddress.ip_interface(op.cidr)))
                if isinstance(op, AddAddress | DelAddress) else Route(op.destination, op.gateway))
        present = item in table
        if isinstance(op, AddAddress | AddRoute):
            table.add(item)
        else:
            table.discard(item)
        return present != isinstance(op, AddAddress | AddRoute)

    def close(self) -> None:
        pass


class FakeNft:
    def __init__(self) -> None:
        self.loads: list[tuple[str, str]] = []  # ("full" | "delta", text)
        self.fail_next = False
        self.reads: list[str] = []  # "ruleset" | "tables" | "counters": what was asked

    def load_full(self, text: str) -> None:
        self._maybe_fail(text)
        self.loads.append(("full", text))

    def load_delta(self, text: str) -> None:
        self._maybe_fail(text)
        self.loads.append(("delta", text))

    def _maybe_fail(self, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ValidationFailed("injected nft failure")

    def counters(self) -> dict[str, tuple[int, int]]:
        self.reads.append("counters")
        return {}

    def _loaded(self) -> str:
        return next((text for kind, text in reversed(self.loads) if kind == "full"), "")

    def tables(self) -> set[tuple[str, str]]:
        """The tables the last full load left (it deletes and re-creates them)."""
        self.reads.append("tables")
        return set(re.findall(r"^table (\w+) (\w+) \{$", self._loaded(), re.M))

    def ruleset(self) -> str:
        self.reads.append("ruleset")
        return self._loaded()

    def close(self) -> None:
        pass


class FakeDnsmasq:
    owner: tuple[int, int] | None = None

    def __init__(self) -> None:
        self.pids: dict[Path, int] = {}  # conf path → pid
        self.log: list[tuple[str, int]] = []
        self._next = 1000
        self.refuse: str | None = None  # a substring that makes `check` and `start` fail
        self.checks: list[Path] = []
        self.launched: list[Path] = []  # in order; each waited for after all began
        self.waited: list[Path] = []

    def check(self, conf: Path) -> None:
        self.checks.append(conf)
        if self.refuse and self.refuse in conf.read_text():
            raise ValidationFailed(f"refused {conf}")

    def running(self, conf: Path, pid_file: Path) -> int | None:
        return self.pids.get(conf)

    def start(self, conf: Path, pid_file: Path) -> int:
        if conf in self.pids:
            raise CommandFailed("already running")
        if self.refuse and self.refuse in conf.read_text():  # as dnsmasq, before it forks
            raise ExitedAtStart(f"dnsmasq failed to start: bad option in {conf}")
        self._next += 1
        self.pids[conf] = self._next
        self.log.append(("start", self._next))
        return self._next

    def launch(self, conf: Path, pid_file: Path) -> Callable[[], int]:
        """As the real one: the process is there at once (or, refusing its file, has
        exited); the call returned waits for it (`wait`)."""
        self.launched.append(conf)
        try:
            outcome: int | ExitedAtStart = self.start(conf, pid_file)
        except ExitedAtStart as exc:
            outcome = exc
        return lambda: self.wait(conf, pid_file, outcome)

    def wait(self, conf: Path, pid_file: Path, outcome: int | ExitedAtStart) -> int:
        self.waited.append(conf)
        if isinstance(outcome, ExitedAtStart):
            raise outcome
        return outcome

    def reload(self, pid: int) -> None:
        self.log.append(("reload", pid))

    def stop(self, pid: int) -> None:
        self.pids = {c: p for c, p in self.pids.items() if p != pid}
        self.log.append(("stop", pid))


class FakeHaproxy:
    """One haproxy master per config path; `refuse` makes `check` fail, `stat` is what
    `stats` answers (None: the socket does not answer)."""

    user: tuple[str, str] | None = None

    def __init__(self) -> None:
        self.pids: dict[Path, int] = {}  # conf path → master pid
        self.log: list[tuple[str, int]] = []
        self._next = 2000
        self.refuse: str | None = None
        self.stat: str | None = None

    def check(self, conf: Path) -> None:
        if self.refuse and self.refuse in conf.read_text():
            raise ValidationFailed(f"haproxy -c refused the configuration: {self.refuse}")

    def running(self, conf: Path, pid_file: Path) -> int | None:
        return self.pids.get(conf)

    def start(self, conf: Path, pid_file: Path) -> int:
        if conf in self.pids:
            raise CommandFailed("a second haproxy")
        self._next += 1
        self.pids[conf] = self._next
        self.log.append(("start", self._next))
        return self._next

    def reload(self, pid: int) -> None:
        self.log.append(("reload", pid))

    def stop(self, pid: int) -> None:
        self.pids = {c: p for c, p in self.pids.items() if p != pid}
        self.log.append(("stop", pid))

    def stats(self, sock: Path) -> str | None:
        return self.stat


class FakeHaDaemons:
    """keepalived and conntrackd, one of each per config path; `refuse` makes
    `check_keepalived` fail on text containing it, `fail_conntrackd` makes the start
    of a conntrackd whose file contains it fail; `stats` is `conntrackd -s`."""

    def __init__(self) -> None:
        self.keepalived: dict[Path, int] = {}
        self.conntrackd: dict[Path, int] = {}
        self.log: list[tuple[str, int]] = []
        self._next = 3000
        self.refuse: str | None = None
        self.fail_conntrackd: str | None = None
        self.stats: str | None = None

    def _pid(self) -> int:
        self._next += 1
        return self._next

    def check_keepalived(self, conf: Path) -> None:
        if self.refuse and self.refuse in conf.read_text():
            raise ValidationFailed(f"keepalived -t refused the configuration: {self.refuse}")

    def keepalived_running(self, conf: Path, pid_file: Path) -> int | None:
        return self.keepalived.get(conf)

    def start_keepalived(self, conf: Path, pid_file: Path, vrrp_pid_file: Path) -> int:
        if conf in self.keepalived:
            raise CommandFailed("a second keepalived")
        pid = self.keepalived[conf] = self._pid()
        self.log.append(("start keepalived", pid))
        return pid

    def reload_keepalived(self, pid: int) -> None:
        self.log.append(("reload keepalived", pid))

    def conntrackd_running(self, conf: Path, pid_file: Path) -> int | None:
        return self.conntrackd.get(conf)

    def start_conntrackd(self, conf: Path, pid_file: Path, lock: Path) -> int:
        if conf in self.conntrackd:
            raise CommandFailed("a second conntrackd")
        if self.fail_conntrackd and self.fail_conntrackd in conf.read_text():
            raise CommandFailed("conntrackd failed to start")
        pid = self.conntrackd[conf] = self._pid()
        self.log.append(("start conntrackd", pid))
        return pid

    def stop(self, pid: int) -> None:
        self.keepalived = {c: p for c, p in self.keepalived.items() if p != pid}
        self.conntrackd = {c: p for c, p in self.conntrackd.items() if p != pid}
        self.log.append(("stop", pid))

    def conntrackd_stats(self, conf: Path) -> str | None:
        return self.stats
