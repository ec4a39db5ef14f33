"""The appliance status document: what the agent reports back.

Produced by the appliance agent for `GET /v1/status/` and read by the orchestrator's
health check and `astara-debug-router`. It says which config (version and digest) is
applied, the last apply error if any, the state of each interface, the health of
each service (nftables, one dnsmasq per internal interface, metadata proxy, haproxy,
keepalived, conntrackd) and traffic counters; a load balancer appliance adds haproxy's
view of each listener, pool and member (``loadbalancer``), an HA member its VRRP role
and conntrackd's sync state (``ha``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InterfaceCounters(_Model):
    rx_bytes: int = 0
    rx_packets: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0


class InterfaceStatus(_Model):
    ifname: str
    mac_address: str
    up: bool
    mtu: int
    addresses: list[str]
    counters: InterfaceCounters = InterfaceCounters()


class ServiceStatus(_Model):
    name: str
    healthy: bool
    detail: str = ""


class NatCounters(_Model):
    snat_packets: int = 0
    snat_bytes: int = 0
    dnat_packets: int = 0
    dnat_bytes: int = 0


class ProxyCounters(_Model):
    """haproxy's counters for one frontend or backend (its stats socket's fields)."""

    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0  # scur
    total_connections: int = 0  # stot
    request_errors: int = 0  # ereq (frontends), econ + eresp (backends)


class MemberHealth(_Model):
    id: str
    # ONLINE: checks pass or there is no monitor; ERROR: the monitor took it out;
    # NO_MONITOR: no health check runs; OFFLINE: admin down.
    operating_status: str


class PoolHealth(_Model):
    id: str
    operating_status: str  # ONLINE, DEGRADED (some member down), ERROR (all down), OFFLINE
    members: list[MemberHealth] = []
    counters: ProxyCounters = ProxyCounters()


class ListenerHealth(_Model):
    id: str
    operating_status: str  # ONLINE, OFFLINE (admin down or not bound), ERROR
    counters: ProxyCounters = ProxyCounters()


class LoadBalancerHealth(_Model):
    id: str
    operating_status: str  # ONLINE, DEGRADED, ERROR, OFFLINE
    listeners: list[ListenerHealth] = []
    pools: list[PoolHealth] = []
    # The haproxy worker whose counters these are ("<pid>@<start time>"): a new one
    # (a reload, a restart) counts from 0 again. None: unknown.
    stats_epoch: str | None = None


class HaStatus(_Model):
    """One member of an HA pair (config `ha.enabled`)."""

    # What keepalived last reported: master (holds the virtual addresses), backup,
    # fault (a tracked interface is down); unknown: no report yet or not running.
    role: str = "unknown"
    # conntrackd: "running" (answers), "not running", or "off" (no conntrack sync).
    sync: str = "off"
    # conntrackd's caches: connections of this member (internal) and those the peer
    # sent (external), as `conntrackd -s` counts them; None: unknown.
    internal_connections: int | None = None
    external_connections: int | None = None


class ApplianceStatus(_Model):
    hostname: str | None = None
    config_version: str | None = None
    config_digest: str | None = None
    applies: int = 0
    last_error: str | None = None
    interfaces: list[InterfaceStatus] = []
    services: list[ServiceStatus] = []
    nat: NatCounters = NatCounters()
    loadbalancer: LoadBalancerHealth | None = None
    ha: HaStatus | None = None
