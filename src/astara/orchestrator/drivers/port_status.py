"""Which tenant instance ports a configured router makes ACTIVE. Pure.

Neutron shows an instance's port ``DOWN`` until it is bound to a host and its DHCP is
provisioned, then ``ACTIVE`` (and tells Nova ``network-vif-plugged``). In Astara the
router's appliance serves that DHCP: once the appliance holds a config with the port's
allocation, the orchestrator reports the port ACTIVE (``reconcile.execute``).

Counted: ports of a tenant instance (``compute:*``, with a device) that the router's
document leases an address to (``internal_subnets``), bound to a host
(``binding:host_id``, which only an admin sets: a tenant's own label is not enough),
administratively up, and not ACTIVE already. Everything comes from the router's model
as the network API gives it to an admin.
"""

from __future__ import annotations

from astara.common.device_owners import INTERFACE
from astara.orchestrator.clients.router_model import RouterModel

ACTIVE = "ACTIVE"


def internal_subnets(model: RouterModel) -> dict[str, set[str]]:
    """Internal network id -> the subnets the router has an interface address on: a
    tenant port there with an address on one of them gets an allocation (a lease)."""
    out: dict[str, set[str]] = {}
    for port in model.ports:
        if port.get("device_owner") == INTERFACE:
            out.setdefault(port["network_id"], set()).update(
                f["subnet_id"] for f in port.get("fixed_ips", [])
                if f["subnet_id"] in model.subnets)
    return out


def served_addresses(port: dict, subnet_ids: set[str]) -> list[str]:
    """The port's addresses the router leases (those on ``subnet_ids``)."""
    return [f["ip_address"] for f in port.get("fixed_ips", []) if f["subnet_id"] in subnet_ids]


def to_activate(model: RouterModel) -> tuple[str, ...]:
    """Ids of the ports to set ACTIVE once this model's document is on the appliance."""
    served = internal_subnets(model)
    out = set()
    for port in model.tenant_ports:
        if not str(port.get("device_owner", "")).startswith("compute:") \
                or not port.get("device_id") or not port.get("binding:host_id"):
            continue
        if port.get("status") == ACTIVE or not port.get("admin_state_up", True):
            continue
        if served_addresses(port, served.get(port.get("network_id", ""), set())):
            out.add(port["id"])
    return tuple(sorted(out))
