"""Find the appliances to serve: namespaces in host mode, the machine itself in VM mode.

Used by `cli`. Host mode learns of a namespace at once: an inotify watch on
/run/netns (`wake.DirectoryWatch`) reports each name created or removed; every
namespace whose name starts with `netns_prefix` is an appliance, named after its
namespace. Its management interface is the one named `mgmt_ifname`; its
management address is the global address already on that interface, or else,
when `mgmt_prefix` is set, the EUI-64 address of the interface's MAC in that
prefix. A namespace not ready yet (no such interface, no address) is looked at
again as soon as a link or an address changes inside it (a netlink subscription
in that namespace, `wake.subscribe`); one that cannot be entered yet (`ip netns
add` creates the file, then mounts the namespace on it) is tried again after a
few milliseconds, a bounded number of times. A namespace that disappears is
dropped (its dnsmasq processes stopped, its state files removed). A full listing
every `interval` seconds stays as a safety net. VM mode is one appliance, the
machine's own network stack, found by the same rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from astara.appliance import wake
from astara.appliance.apply.netns import NETNS_RUN_DIR, entered
from astara.appliance.host import Host
from astara.appliance.observe import interface

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    netns_prefix: str = "astara-appliance-"
    mgmt_ifname: str = "eth0"
    mgmt_prefix: ipaddress.IPv6Network | None = None
    interval: float = 10.0  # the safety net: inotify and netlink wake the agent at once


def eui64(prefix: ipaddress.IPv6Network, mac: str) -> str:
    """The SLAAC address of `mac` in `prefix`, with the prefix length."""
    octets = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    address = prefix.network_address + int.from_bytes(iid, "big")
    return f"{address}/{prefix.prefixlen}"


def management(netns: str | None, settings: Settings) -> tuple[str, str] | None:
    """(MAC, address/prefixlen) of the management interface of `netns`, if ready."""
    with entered(netns):
        link = interface.interfaces((settings.mgmt_ifname,)).get(settings.mgmt_ifname)
    if link is None:
        return None
    if link.addresses:
        return link.mac_address, link.addresses[0]
    if settings.mgmt_prefix is not None:
        return link.mac_address, eui64(settings.mgmt_prefix, link.mac_address)
    return None


def appliance_namespaces(prefix: str) -> set[str]:
    try:
        return {name for name in os.listdir(NETNS_RUN_DIR) if name.startswith(prefix)}
    except FileNotFoundError:
        return set()


RETRY_DELAYS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # then the scan


def subscribe_links(netns: str | None) -> wake.Signal:
    return wake.subscribe(netns, wake.NETLINK_ROUTE, wake.ROUTE_GROUPS)


class Watcher:
    """Keep `host` serving exactly the appliance namespaces present.

    `namespaces` lists the namespaces with a prefix, `find_management` reads a
    namespace's management interface, `directory` is watched for names that come
    and go, and `subscribe` opens a socket inside a namespace that becomes readable
    when a link or an address changes there; tests pass fakes."""

    def __init__(self, host: Host, settings: Settings,
                 namespaces: Callable[[str], set[str]] = appliance_namespaces,
                 find_management: Callable[[str | None, Settings], tuple[str, str] | None]
                 = management, directory: str = NETNS_RUN_DIR,
                 subscribe: Callable[[str], wake.Signal] = subscribe_links,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.host, self.settings = host, settings
        self._namespaces, self._management = namespaces, find_management
        self._directory, self._subscribe = directory, subscribe
        self._retry_delays = retry_delays
        self._waiting: dict[str, str] = {}  # namespace → why it is not served (logged once)
        self._subs: dict[str, wake.Signal] = {}  # not-ready namespace → its netlink wake-up
        self._tries: dict[str, int] = {}  # namespace → retries spent (cannot enter it yet)
        self._dirty: set[str] = set()  # namespaces to look at
        self._full = False  # list the whole directory
        self._wake = asyncio.Event()

    def kick(self, name: str = "") -> None:
        """Look at `name` soon ("": at everything)."""
        if name:
            self._dirty.add(name)
        else:
            self._full = True
        self._wake.set()

    async def scan(self) -> None:
        present = self._namespaces(self.settings.netns_prefix)
        for name in sorted(set(self.host.entries) - present):
            await self._drop(name)
        for name in (set(self._waiting) | set(self._subs)) - present:
            self._forget(name)
        # One at a time: two adds in worker threads fight for the GIL at every
        # system call (measured: slower in total than one after the other).
        for name in sorted(present - set(self.host.entries)):
            await self._try_add(name)

    async def settle(self, names: set[str]) -> None:
        """Look at `names` only: add the new ones, drop the gone ones."""
        present = self._namespaces(self.settings.netns_prefix)
        for name in sorted(names):
            if name not in present:
                if name in self.host.entries:
                    await self._drop(name)
                self._forget(name)
            elif name not in self.host.entries:
                await self._try_add(name)

    async def _try_add(self, name: str) -> None:
        try:
            found = await asyncio.to_thread(self._management, name, self.settings)
            if found is None and name not in self._subs:
                self._watch_links(name)  # then look again: a change meanwhile is not lost
                found = await asyncio.to_thread(self._management, name, self.settings)
            if found is None:  # the subscription wakes us when a link or address changes
                self._wait(name, f"no interface {self.settings.mgmt_ifname} with an address")
                return
            await self.host.add(name, name, *found)
        except (OSError, LookupError) as exc:  # half built (not mounted yet), or vanishing
            self._wait(name, str(exc))
            self._retry_soon(name)
            return
        except Exception as exc:  # e.g. a command failing: the other namespaces go on
            LOG.exception("namespace %s not served: adding it failed", name)
            self._waiting[name] = str(exc)  # logged with its traceback just now
            self._retry_soon(name)  # then at each scan
            return
        self._forget(name)
        LOG.info("serving appliance namespace %s on [%s]:%d", name, found[1],
                 self.host.api_port)

    async def _drop(self, name: str) -> None:
        LOG.info("namespace %s is gone: dropping its appliance", name)
        try:
            await self.host.remove(name)  # the entry goes first: not tried again
        except Exception:  # e.g. a teardown command failing: the other namespaces go on
            LOG.exception("dropping the appliance of namespace %s failed", name)

    def _watch_links(self, name: str) -> None:
        sock = self._subscribe(name)
        self._subs[name] = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_links, name, sock)

    def _on_links(self, name: str, sock: wake.Signal) -> None:
        wake.drain(sock)
        self.kick(name)

    def _retry_soon(self, name: str) -> None:
        tries = self._tries.get(name, 0)
        if tries < len(self._retry_delays):
            self._tries[name] = tries + 1
            asyncio.get_running_loop().call_later(self._retry_delays[tries], self.kick, name)

    def _forget(self, name: str) -> None:
        self._waiting.pop(name, None)
        self._tries.pop(name, None)
        sock = self._subs.pop(name, None)
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()

    def _wait(self, name: str, why: str) -> None:
        if self._waiting.get(name) != why:
            LOG.info("namespace %s not served yet: %s", name, why)
        self._waiting[name] = why

    def _on_directory(self, watch: wake.DirectoryWatch) -> None:
        prefix = self.settings.netns_prefix
        for change in watch.changes():
            if not change.name:
                self.kick()
            elif change.name.startswith(prefix):
                self.kick(change.name)

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self._full:
                    self._full = False
                    self._dirty.clear()  # the scan looks at every name
                    await self.scan()
                dirty, self._dirty = self._dirty, set()
                if dirty:
                    await self.settle(dirty)
            except Exception:  # a dead worker would serve no new namespace again
                LOG.exception("looking at the appliance namespaces failed: next scan")

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        watch: wake.DirectoryWatch | None = None
        try:
            watch = wake.DirectoryWatch(self._directory)
            loop.add_reader(watch.fileno(), self._on_directory, watch)
        except OSError as exc:  # e.g. no inotify instance left: the scan alone
            LOG.warning("cannot watch %s (%s): looking every %g s only", self._directory,
                        exc, self.settings.interval)
        LOG.info("watching %s for namespaces named %s* (and a full look every %g s)",
                 self._directory, self.settings.netns_prefix, self.settings.interval)
        worker = asyncio.create_task(self._work())
        try:
            while not stop.is_set():
                self.kick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.interval)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            if watch is not None:
                loop.remove_reader(watch.fileno())
                watch.close()
            for name in list(self._subs):
                self._forget(name)


async def serve_self(host: Host, name: str, settings: Settings, stop: asyncio.Event) -> None:
    """VM mode: wait for the management interface (woken by a link or address change,
    or every `interval`), then serve this stack until `stop`."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    try:
        sock: wake.Signal | None = subscribe_links(None)
    except OSError as exc:  # then every `interval` only
        LOG.warning("no netlink notifications (%s): looking every %g s", exc,
                    settings.interval)
        sock = None

    def on_change() -> None:
        assert sock is not None
        wake.drain(sock)
        changed.set()

    if sock is not None:
        loop.add_reader(sock.fileno(), on_change)
    try:
        while not stop.is_set():
            changed.clear()
            found = await asyncio.to_thread(management, None, settings)
            if found is not None:
                await host.add(name, None, *found)
                LOG.info("serving appliance %s on [%s]:%d", name, found[1], host.api_port)
                await stop.wait()
                return
            LOG.info("waiting for interface %s and its address", settings.mgmt_ifname)
            stopping = asyncio.ensure_future(stop.wait())
            waking = asyncio.ensure_future(changed.wait())
            await asyncio.wait({stopping, waking}, timeout=settings.interval,
                               return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            waking.cancel()
    finally:
        if sock is not None:
            loop.remove_reader(sock.fileno())
            sock.close()
