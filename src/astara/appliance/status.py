"""Build the status document of one appliance from a fresh observation, and keep it.

`status()` is called by the API's read handlers in a worker thread; it enters the
namespace, dumps links and addresses through the netlink port, asks the nft and
dnsmasq ports about the services, and combines that with what `converge`
remembers (digest, applies, last error). That costs milliseconds, and a health
check every minute on each of a thousand appliances wants none of it when nothing
changed: `Cache` keeps the last `GET /v1/status/` answer until something does.
Its owner (`host`) feeds it the kernel's word that something changed (a link or
an address in the namespace, its nftables ruleset, the exit of a dnsmasq or
haproxy process whose pid the answer named); an apply changes the digest, the
applies count or the error, which the cache compares itself. A load balancer
appliance's answer is never kept: it carries haproxy's health checks
(`observe.haproxy`). Counters in a kept answer are those of its observation;
`/v1/system/stats/` and the interface routes always observe.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from astara.appliance.apply import dhcp
from astara.appliance.apply import ha as apply_ha
from astara.appliance.apply import haproxy as apply_haproxy
from astara.appliance.apply.netns import entered
from astara.appliance.converge import Appliance
from astara.appliance.observe import ha as observe_ha
from astara.appliance.observe import haproxy as observe_haproxy
from astara.appliance.render import conntrackd as render_conntrackd
from astara.appliance.render import haproxy as render_haproxy
from astara.appliance.render.dnsmasq import paths
from astara.wire.appliance_status import (
    ApplianceStatus,
    HaStatus,
    InterfaceCounters,
    InterfaceStatus,
    LoadBalancerHealth,
    NatCounters,
    ServiceStatus,
)

MAX_AGE = 600.0  # a safety net: events say when it is stale


def status(appliance: Appliance, pids: list[int] | None = None) -> ApplianceStatus:
    """The document; the pids of the dnsmasq processes found go to `pids`."""
    with entered(appliance.netns):
        netlink = appliance.ports.netlink()
        try:
            state = netlink.observe(full=False)  # no routes, no pins: not shown
        finally:
            netlink.close()
        counters = appliance.ports.nft.counters()
        services = [ServiceStatus(name="nftables", healthy="snat4" in counters
                                  or appliance.config is None)]
        for ifname in sorted(dhcp.current_interfaces(appliance.state_dir)):
            p = paths(appliance.state_dir, ifname)
            pid = appliance.ports.dnsmasq.running(p["conf"], p["pid"])
            if pid and pids is not None:
                pids.append(pid)
            services.append(ServiceStatus(name=f"dnsmasq-{ifname}", healthy=pid is not None,
                                          detail=f"pid {pid}" if pid else "not running"))
        ha = _ha(appliance, services, pids)
    loadbalancer = _haproxy(appliance, services, pids)
    interfaces = [
        InterfaceStatus(
            ifname=link.ifname, mac_address=link.mac_address, up=link.up, mtu=link.mtu,
            addresses=sorted(a.cidr for a in state.addresses if a.ifname == link.ifname),
            counters=InterfaceCounters(rx_bytes=link.rx_bytes, rx_packets=link.rx_packets,
                                       tx_bytes=link.tx_bytes, tx_packets=link.tx_packets),
        )
        for link in state.links if link.ifname != "lo"
    ]
    snat, dnat = counters.get("snat4", (0, 0)), counters.get("dnat4", (0, 0))
    config = appliance.config
    return ApplianceStatus(
        hostname=config.hostname if config else None,
        config_version=config.version if config else None,
        config_digest=appliance.digest,
        applies=appliance.applies,
        last_error=appliance.last_error,
        interfaces=interfaces,
        services=services,
        nat=NatCounters(snat_packets=snat[0], snat_bytes=snat[1],
                        dnat_packets=dnat[0], dnat_bytes=dnat[1]),
        loadbalancer=loadbalancer,
        ha=ha,
    )


def _ha(appliance: Appliance, services: list[ServiceStatus],
        pids: list[int] | None) -> HaStatus | None:
    """keepalived's and conntrackd's service entries and the member's role (an HA
    member only; in the namespace: `conntrackd -s` talks to its socket)."""
    config, proc = appliance.config, appliance.ports.ha
    if config is None or not config.ha.enabled:
        return None
    keepalived, conntrackd = apply_ha.running(appliance.state_dir, proc) \
        if proc is not None else (None, None)
    for name, pid, wanted in (("keepalived", keepalived, True),
                              ("conntrackd", conntrackd, config.ha.conntrack_sync)):
        if not wanted:
            continue
        if pid and pids is not None:
            pids.append(pid)
        services.append(ServiceStatus(name=name, healthy=pid is not None,
                                      detail=f"pid {pid}" if pid else "not running"))
    stats = proc.conntrackd_stats(render_conntrackd.paths(appliance.state_dir)["conf"]) \
        if proc is not None and conntrackd else None
    return observe_ha.health(config.ha, apply_ha.role(appliance.state_dir),
                             keepalived is not None, conntrackd is not None, stats)


def _haproxy(appliance: Appliance, services: list[ServiceStatus],
             pids: list[int] | None) -> LoadBalancerHealth | None:
    """haproxy's service entry and its view of the load balancer (a load balancer
    appliance only): healthy when its master runs and the last push applied."""
    config, proc = appliance.config, appliance.ports.haproxy
    if config is None or config.loadbalancer is None:
        return None
    pid = apply_haproxy.running(appliance.state_dir, proc) if proc is not None else None
    if pid and pids is not None:
        pids.append(pid)
    stat = proc.stats(render_haproxy.paths(appliance.state_dir)["sock"]) \
        if proc is not None and pid else None
    healthy = pid is not None and appliance.last_error is None
    detail = f"pid {pid}" if pid else "not running"
    if pid and appliance.last_error is not None:
        detail += ", serving an older configuration (the last push failed)"
    services.append(ServiceStatus(name="haproxy", healthy=healthy, detail=detail))
    return observe_haproxy.health(config.loadbalancer, stat)


def ruleset(appliance: Appliance) -> str:
    with entered(appliance.netns):
        return appliance.ports.nft.ruleset()


def _balances(appliance: Appliance) -> bool:
    """A load balancer's member health changes with haproxy's checks, an HA member's
    role and sync counters with its peer, which no kernel event reports: their
    status is observed at every call, never kept."""
    return appliance.config is not None and (appliance.config.loadbalancer is not None
                                             or appliance.config.ha.enabled)


def _key(appliance: Appliance) -> tuple:
    return (appliance.digest, appliance.applies, appliance.last_error)


class Cache:
    """The last status answer of one appliance and what it depended on. Used from the
    event loop only. Until `watched` is set (someone calls `changed()` on every change
    in the namespace), nothing is kept."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_age: float = MAX_AGE) -> None:
        self.watched = False
        self._clock, self._max_age = clock, max_age
        self._changes = 0
        self._entry: tuple[int, tuple, float, bytes] | None = None

    def changed(self) -> None:
        self._changes += 1

    def get(self, appliance: Appliance) -> bytes | None:
        if not self.watched or self._entry is None or _balances(appliance):
            return None
        changes, key, at, body = self._entry
        if (changes != self._changes or key != _key(appliance)
                or self._clock() - at > self._max_age):
            return None
        return body

    def mark(self, appliance: Appliance) -> tuple[int, tuple, float]:
        """Taken before observing: a change during the observation makes it stale."""
        return self._changes, _key(appliance), self._clock()

    def store(self, mark: tuple[int, tuple, float], body: bytes) -> None:
        self._entry = (*mark, body)
