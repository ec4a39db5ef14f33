"""A router as the network API gives it to an admin: what ``NetworkAPI.router_model``
returns and the router driver builds its appliance's document from. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

from astara.common.device_owners import GATEWAY, MGMT_OWNER


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
    # Why no appliance can serve it (e.g. a real Neutron's own HA or DVR router): no
    # ports are taken, the router goes to ERROR with this reason.
    refused: str | None = None


def refusal(router: dict) -> str | None:
    """A real Neutron's HA (``ha``) or DVR (``distributed``) router is Neutron's L3
    agents' to serve: other interface owners, its own HA ports; Astara does not take it
    (Astara's ``ha`` pair is asked for on our API only)."""
    kinds = [k for k in ("ha", "distributed") if router.get(k) is True]
    if not kinds:
        return None
    return (f"a Neutron {' and '.join(kinds)} router is not served by Astara (set "
            "l3_ha = False and router_distributed = False in neutron.conf, and make it "
            "again without them)")


# A network API without the one-read route (a real Neutron) is asked in list calls:
# the router, its ports (``device_id``), then by id lists what those ports name. These
# say what to ask and put the answers together; the client does the calls.

def subnet_ids(router_ports: list[dict]) -> list[str]:
    return sorted({f["subnet_id"] for p in router_ports for f in p.get("fixed_ips", [])})


def network_ids(router_ports: list[dict], owners: tuple[str, ...]) -> list[str]:
    return sorted({p["network_id"] for p in router_ports if p.get("device_owner") in owners})


def trusted(router: dict, device_ports: list[dict], mgmt_net: str,
            owners: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """The router's ports of the ``owners`` kinds that the relations we trust make its,
    and the rest of its ``device_id`` list (planted: whoever owns a port writes its
    ``device_id`` and, on their own network, a ``network:*`` ``device_owner``).

    - an interface port is the router's project's: Neutron refuses a non-admin an
      interface label naming another project's router, and gives the ports it makes for
      ``add_router_interface`` the router's project;
    - the gateway port is Neutron's own (no project) on the network and with the fixed
      IPs of the router's ``external_gateway_info``;
    - a management port is on the management network the orchestrator owns."""
    project = router.get("project_id") or router.get("tenant_id") or ""
    gw = router.get("external_gateway_info") or {}
    gw_ips = sorted((f.get("subnet_id"), f.get("ip_address"))
                    for f in gw.get("external_fixed_ips") or [])

    def ok(p: dict) -> bool:
        owner = p.get("device_owner")
        if owner not in owners:
            return False
        if owner == GATEWAY:
            ips = sorted((f.get("subnet_id"), f.get("ip_address"))
                         for f in p.get("fixed_ips") or [])
            return (not p.get("project_id") and bool(gw.get("network_id"))
                    and p.get("network_id") == gw["network_id"] and ips == gw_ips)
        if owner == MGMT_OWNER:
            return p.get("network_id") == mgmt_net
        return bool(project) and p.get("project_id") == project

    kept = [p for p in device_ports if ok(p)]
    planted = [p for p in device_ports if p.get("device_owner") in owners and not ok(p)]
    return kept, planted


def gathered(router: dict, ports: list[dict], subnets: list[dict], networks: list[dict],
             floating_ips: list[dict], network_ports: list[dict]) -> RouterModel:
    """The model from the list answers: the router's trusted ports (``trusted``), and of
    the ports on its internal networks only the tenant instances' (``compute:*``), which
    it leases to."""
    return RouterModel(
        router, list(ports),
        {s["id"]: s for s in subnets}, {n["id"]: n for n in networks}, list(floating_ips),
        [p for p in network_ports if str(p.get("device_owner", "")).startswith("compute:")])
