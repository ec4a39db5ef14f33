"""The coordination service's edge (tooz): join the group, heartbeat, list members.

``Membership`` is the Protocol the ownership layer uses; ``ToozMembership`` speaks to
etcd, ZooKeeper or Redis through tooz; ``StaticMembership`` is the in-tree fake (a
member list a test sets, and an outage it can switch on). Any failure of the service
is a ``CoordinationDown``, never a tooz exception.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

LOG = logging.getLogger(__name__)


class CoordinationDown(Exception):
    """The coordination service did not answer (or refused)."""


class Membership(Protocol):
    def beat(self) -> dict[str, dict]:
        """Heartbeat (joining again if our membership lapsed) and read the group:
        member name -> its capabilities. Raises ``CoordinationDown``."""
        ...

    def leave(self) -> None: ...

    def lock(self, name: str, timeout: float) -> AbstractContextManager[bool]:
        """A lock across the members (``with ... as held``): held False when the
        service could not give it within ``timeout`` s (the caller goes on, warned)."""
        ...


class StaticMembership:
    """The fake: ``members`` is the group, ``down`` an outage."""

    def __init__(self, name: str, capabilities: dict | None = None):
        self.name = name
        self.members: dict[str, dict] = {name: capabilities or {}}
        self.down = False
        self.beats = 0

    def beat(self) -> dict[str, dict]:
        if self.down:
            raise CoordinationDown("coordination service unreachable (fake)")
        self.beats += 1
        return dict(self.members)

    def leave(self) -> None:
        self.members.pop(self.name, None)

    # One lock per name for every fake in the process: members a test runs together.
    _locks: dict[str, threading.Lock] = {}

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[bool]:
        lk = self._locks.setdefault(name, threading.Lock())
        held = not self.down and lk.acquire(timeout=timeout)
        try:
            yield held
        finally:
            if held:
                lk.release()


class ToozMembership:
    def __init__(self, url: str, group: str, name: str, capabilities: dict):
        from tooz import coordination  # only in a cluster

        self._tooz = coordination
        self.group = group.encode()
        self.name = name
        self.capabilities = capabilities
        self._coord = coordination.get_coordinator(url, name.encode())
        self._started = False
        self._joined = False

    def _call(self, fn, *args, **kw):
        try:
            result = fn(*args, **kw)
            return result.get() if hasattr(result, "get") else result
        except NotImplementedError:
            raise
        except Exception as exc:
            # tooz's errors, and the transport errors a driver lets through (etcd3gw's
            # heartbeat raises its own): all mean the service did not do it.
            raise CoordinationDown(f"{type(exc).__name__}: {exc}") from exc

    def _join(self) -> None:
        try:
            self._call(self._coord.create_group, self.group)
        except CoordinationDown as exc:
            if not isinstance(exc.__cause__, self._tooz.GroupAlreadyExist):
                raise
        try:
            self._call(self._coord.join_group, self.group, self.capabilities)
        except CoordinationDown as exc:
            if not isinstance(exc.__cause__, self._tooz.MemberAlreadyExist):
                raise
            # Our own key, from a run whose membership has not expired yet (a restart
            # within heartbeat_timeout): it lapses on its own; until then we wait.
            raise CoordinationDown(f"member {self.name} already in the group (a previous "
                                   "run not yet expired)") from exc
        self._joined = True
        LOG.info("cluster: joined group %s as %s", self.group.decode(), self.name)

    def beat(self) -> dict[str, dict]:
        if not self._started:
            self._call(self._coord.start, start_heart=False)
            self._started = True
        self._call(self._coord.heartbeat)
        if not self._joined:
            self._join()
        try:
            found = self._call(self._coord.get_members_with_capabilities, self.group)
        except NotImplementedError:  # a driver without it: one read per member
            names = self._call(self._coord.get_members, self.group)
            found = {m: self._call(self._coord.get_member_capabilities, self.group, m)
                     for m in names}
        members = {_name(m): _caps(c) for m, c in found.items()}
        if self.name not in members:
            # Our membership lapsed (a stall past heartbeat_timeout): join again.
            LOG.warning("cluster: our membership lapsed; joining %s again",
                        self.group.decode())
            self._joined = False
            self._join()
            members[self.name] = dict(self.capabilities)
        return members

    def leave(self) -> None:
        if not self._started:
            return
        try:
            if self._joined:
                self._call(self._coord.leave_group, self.group)
        except CoordinationDown as exc:
            LOG.warning("cluster: leaving the group failed: %s", exc)
        try:
            self._coord.stop()
        except Exception as exc:  # stopping: nothing more to do about it
            LOG.warning("cluster: stopping the coordinator failed: %s", exc)


    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[bool]:
        held, lk = False, None
        try:
            if not self._started:
                self._call(self._coord.start, start_heart=False)
                self._started = True
            lk = self._coord.get_lock(name.encode())
            held = bool(lk.acquire(blocking=timeout))
        except Exception as exc:  # tooz's errors, a driver's transport errors
            LOG.warning("cluster: lock %s not taken: %s: %s", name, type(exc).__name__, exc)
        try:
            yield held
        finally:
            if held and lk is not None:
                try:
                    lk.release()
                except Exception as exc:  # it ends with its TTL
                    LOG.warning("cluster: releasing lock %s failed: %s", name, exc)


def _name(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member


def _caps(raw: object) -> dict:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, bytes | str):
        try:
            out = json.loads(raw)
            return out if isinstance(out, dict) else {}
        except ValueError:
            return {}
    return {}
