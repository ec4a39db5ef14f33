"""The appliance status document: what the agent reports back.

Produced by the appliance agent for `GET /v1/status/` and read by the orchestrator's
health check and `astara-debug-router`. It says which config (version and digest) is
applied, the last apply error if any, the state of each interface, the health of
each service (nftables, one dnsmasq per internal interface, metadata proxy) and
traffic counters.
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


class ApplianceStatus(_Model):
    hostname: str | None = None
    config_version: str | None = None
    config_digest: str | None = None
    applies: int = 0
    last_error: str | None = None
    interfaces: list[InterfaceStatus] = []
    services: list[ServiceStatus] = []
    nat: NatCounters = NatCounters()
