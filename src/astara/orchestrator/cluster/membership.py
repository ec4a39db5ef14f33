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
import time
import urllib.parse
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


def session_based(url: str) -> bool:
    """ZooKeeper (tooz's ``zookeeper://``, alias ``kazoo://``): membership is a client
    session, kept alive by the client's own thread, not a TTL our heartbeat renews."""
    return urllib.parse.urlsplit(url).scheme in ("zookeeper", "kazoo")


def member_timeout(url: str) -> float:
    """The ``timeout`` in the tooz URL (``tooz_url`` always sets it); tooz's 10 else."""
    for key, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query):
        if key == "timeout":
            try:
                return float(value)
            except ValueError:
                break
    return 10.0


def driver_options(url: str) -> dict:
    """Options tooz cannot take from a URL. kazoo reconnects after a connection loss
    with a doubling back-off, up to 3,600 s between tries by default: after an outage
    of a minute a member could wait another before its next beat works. Capped at a
    second here (kazoo's retry object: a dict of its arguments)."""
    if session_based(url):
        return {"connection_retry": {"max_tries": -1, "delay": 0.1, "backoff": 2,
                                     "max_jitter": 0.2, "max_delay": 1.0}}
    return {}


class ToozMembership:
    def __init__(self, url: str, group: str, name: str, capabilities: dict):
        from tooz import coordination  # only in a cluster

        self._tooz = coordination
        self.group = group.encode()
        self.name = name
        self.capabilities = capabilities
        self._coord = coordination.get_coordinator(url, name.encode(), **driver_options(url))
        self._started = False
        self._joined = False
        self._timeout = member_timeout(url)
        self._last_beat = time.monotonic()
        self._locking = 0  # locks being waited for or held
        self._ended = threading.Event()  # the watchdog ended our session
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        if session_based(url):
            self._watchdog = threading.Thread(target=self._watch, name="cluster-session",
                                              daemon=True)

    def _client(self):
        """The kazoo client under tooz's ZooKeeper driver (tooz 9.1.0 keeps it as
        ``_coord``; pinned), or None for other drivers."""
        return getattr(self._coord, "_coord", None) if self._watchdog is not None else None

    def _watch(self) -> None:
        """On ZooKeeper our member node lives as long as the client's session, which
        kazoo's own thread keeps alive: a member whose heartbeat loop is stuck (a hung
        database call, say) while its process runs would stay in the group for good,
        and the ring would keep giving it a share whose leases it no longer renews.
        So the session is ended when no beat has begun for the member timeout (or one
        has hung that long), as etcd's and Redis's TTL end a member that stopped
        beating; the next beat starts a new session and joins again. It is ended on
        the kazoo client itself: tooz's stop first leaves the group and waits for that
        without a timeout, which hangs while the connection is lost."""
        while not self._stopping.wait(self._timeout / 4):
            if (not self._started or self._ended.is_set() or self._locking
                    or time.monotonic() - self._last_beat <= self._timeout):
                continue
            LOG.warning("cluster: no heartbeat for %.0f s: ending our ZooKeeper session "
                        "(leaving the group)", self._timeout)
            # Stopped before it is marked ended: marked first, a beat could restart
            # the session in between and this stop would then close the new one,
            # unmarked, leaving the member down until its process restarts.
            try:
                self._client().stop()
            except Exception as exc:  # the session ends with its timeout anyway
                LOG.warning("cluster: ending the session failed: %s", exc)
            self._ended.set()

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

    def _start(self) -> None:
        if self._ended.is_set():  # the watchdog closed the session: start afresh
            try:
                self._coord.stop()  # tooz's side (its client is closed: no wait)
            except Exception as exc:
                LOG.debug("cluster: stopping the ended driver: %s", exc)
            self._ended.clear()
            self._started = self._joined = False
        if not self._started:
            self._call(self._coord.start, start_heart=False)
            self._started = True
            if self._watchdog is not None and not self._watchdog.is_alive():
                self._watchdog.start()
        client = self._client()
        if client is not None and not client.connected:
            # kazoo queues a call made while it reconnects until the connection is
            # back, without a timeout: with ZooKeeper down a beat would hang (past
            # the lease) instead of saying so. Not connected is down, at once.
            raise CoordinationDown(f"ZooKeeper connection lost (kazoo {client.state})")

    def beat(self) -> dict[str, dict]:
        self._last_beat = time.monotonic()
        self._start()
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
        self._stopping.set()
        if not self._started or self._ended.is_set():
            return
        client = self._client()
        if client is not None and not client.connected:
            # tooz would wait, without a timeout, for a leave the lost connection
            # cannot carry: close the client; the session ends with its timeout.
            try:
                client.stop()
            except Exception as exc:
                LOG.warning("cluster: stopping the ZooKeeper client failed: %s", exc)
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
        # Waiting for or holding a lock is not a stuck beat loop (at start-up the lock
        # comes before the loop runs): the watchdog waits, and counts from its end.
        self._locking += 1
        try:
            with self._lock(name, timeout) as held:
                yield held
        finally:
            self._last_beat = time.monotonic()
            self._locking -= 1

    @contextmanager
    def _lock(self, name: str, timeout: float) -> Iterator[bool]:
        held, lk = False, None
        try:
            self._start()
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
