"""Find the appliances to serve: namespaces in host mode, the machine itself in VM mode.

Used by `cli`. Host mode polls /run/netns (cheap: one directory listing per
`interval`); every namespace whose name starts with `netns_prefix` is an
appliance, named after its namespace. Its management interface is the one named
`mgmt_ifname`; its management address is the global address already on that
interface, or else, when `mgmt_prefix` is set, the EUI-64 address of the
interface's MAC in that prefix. A namespace not ready yet (no such interface, no
address) is retried at the next scan. A namespace that disappears is dropped
(its dnsmasq processes stopped, its state files removed). VM mode is one
appliance, the machine's own network stack, found by the same rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from astara.appliance.apply.netns import NETNS_RUN_DIR, entered
from astara.appliance.host import Host
from astara.appliance.observe import netlink as reader

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    netns_prefix: str = "astara-appliance-"
    mgmt_ifname: str = "eth0"
    mgmt_prefix: ipaddress.IPv6Network | None = None
    interval: float = 1.0


def eui64(prefix: ipaddress.IPv6Network, mac: str) -> str:
    """The SLAAC address of `mac` in `prefix`, with the prefix length."""
    octets = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    address = prefix.network_address + int.from_bytes(iid, "big")
    return f"{address}/{prefix.prefixlen}"


def management(netns: str | None, settings: Settings) -> tuple[str, str] | None:
    """(MAC, address/prefixlen) of the management interface of `netns`, if ready."""
    with entered(netns):
        state = reader.observe()
    link = state.link(settings.mgmt_ifname)
    if link is None:
        return None
    configured = sorted(a.cidr for a in state.addresses if a.ifname == link.ifname)
    if configured:
        return link.mac_address, configured[0]
    if settings.mgmt_prefix is not None:
        return link.mac_address, eui64(settings.mgmt_prefix, link.mac_address)
    return None


def appliance_namespaces(prefix: str) -> set[str]:
    try:
        return {name for name in os.listdir(NETNS_RUN_DIR) if name.startswith(prefix)}
    except FileNotFoundError:
        return set()


class Watcher:
    """Keep `host` serving exactly the appliance namespaces present.

    `namespaces` lists the namespaces with a prefix and `find_management` reads a
    namespace's management interface; tests pass fakes for both."""

    def __init__(self, host: Host, settings: Settings,
                 namespaces: Callable[[str], set[str]] = appliance_namespaces,
                 find_management: Callable[[str | None, Settings], tuple[str, str] | None]
                 = management) -> None:
        self.host, self.settings = host, settings
        self._namespaces, self._management = namespaces, find_management
        self._waiting: dict[str, str] = {}  # namespace → why it is not served (logged once)

    async def scan(self) -> None:
        present = self._namespaces(self.settings.netns_prefix)
        for name in sorted(set(self.host.entries) - present):
            LOG.info("namespace %s is gone: dropping its appliance", name)
            await self.host.remove(name)
        for name in set(self._waiting) - present:
            del self._waiting[name]
        for name in sorted(present - set(self.host.entries)):
            await self._try_add(name)

    async def _try_add(self, name: str) -> None:
        try:
            found = await asyncio.to_thread(self._management, name, self.settings)
            if found is None:
                self._wait(name, f"no interface {self.settings.mgmt_ifname} with an address")
                return
            await self.host.add(name, name, *found)
        except (OSError, LookupError) as exc:  # it may be half built, or vanish meanwhile
            self._wait(name, str(exc))
            return
        self._waiting.pop(name, None)
        LOG.info("serving appliance namespace %s on [%s]:%d", name, found[1],
                 self.host.api_port)

    def _wait(self, name: str, why: str) -> None:
        if self._waiting.get(name) != why:
            LOG.info("namespace %s not served yet: %s", name, why)
        self._waiting[name] = why

    async def run(self, stop: asyncio.Event) -> None:
        LOG.info("watching %s for namespaces named %s* every %g s", NETNS_RUN_DIR,
                 self.settings.netns_prefix, self.settings.interval)
        while not stop.is_set():
            await self.scan()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval)


async def serve_self(host: Host, name: str, settings: Settings, stop: asyncio.Event) -> None:
    """VM mode: wait for the management interface, then serve this stack until `stop`."""
    while not stop.is_set():
        found = await asyncio.to_thread(management, None, settings)
        if found is not None:
            await host.add(name, None, *found)
            LOG.info("serving appliance %s on [%s]:%d", name, found[1], host.api_port)
            await stop.wait()
            return
        LOG.info("waiting for interface %s and its address", settings.mgmt_ifname)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.interval)
