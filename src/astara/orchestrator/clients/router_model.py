"""A router as the network API gives it to an admin: what ``NetworkAPI.router_model``
returns and the router driver builds its appliance's document from. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RouterModel:
    router: dict
    ports: list[dict]  # the router's interface and gateway ports
    subnets: dict[str, dict]  # by id: every subnet those ports use
    networks: dict[str, dict]  # by id
    floating_ips: list[dict] = field(default_factory=list)
    tenant_ports: list[dict] = field(default_factory=list)  # VM ports on internal networks
    # Equal fingerprints mean equal models (a hash of the API's answer), so the document
    # built from the last one can be kept; None: unknown, build it again.
    fingerprint: str | None = field(default=None, compare=False)
