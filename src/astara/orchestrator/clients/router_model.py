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


# A network API without the one-read route (a real Neutron) is asked in list calls:
# the router, its ports (``device_id``), then by id lists what those ports name. These
# say what to ask and put the answers together; the client does the calls.

def subnet_ids(router_ports: list[dict]) -> list[str]:
    return sorted({f["subnet_id"] for p in router_ports for f in p.get("fixed_ips", [])})


def network_ids(router_ports: list[dict], owners: tuple[str, ...]) -> list[str]:
    return sorted({p["network_id"] for p in router_ports if p.get("device_owner") in owners})


def gathered(router: dict, device_ports: list[dict], owners: tuple[str, ...],
             subnets: list[dict], networks: list[dict], floating_ips: list[dict],
             network_ports: list[dict]) -> RouterModel:
    """The model from the list answers: the router's ports of the ``owners`` kinds (a
    device's list also holds what is not the router's to route), and of the ports on its
    internal networks only the tenant instances' (``compute:*``), which it leases to."""
    return RouterModel(
        router, [p for p in device_ports if p.get("device_owner") in owners],
        {s["id"]: s for s in subnets}, {n["id"]: n for n in networks}, list(floating_ips),
        [p for p in network_ports if str(p.get("device_owner", "")).startswith("compute:")])
