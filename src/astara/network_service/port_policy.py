"""Who may give a port a ``network:*`` device owner: Neutron's port policy, as pure rules.

Neutron's default ``create_port:device_owner`` / ``update_port:device_owner`` is
"not rule:network_device or admin/service or network owner": a member may label a
port on its own network ``network:router_interface`` or ``network:dhcp``, never one
on a network it does not own. Owners that only the cloud's own services create (a
router's gateway, a floating IP's port, an appliance's management port) are
admin-only here, stricter than Neutron's default: on the networks where they mean
something (external, management) a member owns nothing anyway.

A label is never a relation: a router's ports come from the router-port
association, so these rules only keep the labels honest.
"""

from __future__ import annotations

from astara.common.device_owners import GATEWAY, HA_INTERFACE, INTERFACE
from astara.common.device_owners import MGMT_OWNER as MGMT

FLOATINGIP = "network:floatingip"

# Neutron's ROUTER_INTERFACE_OWNERS: their device_id may only name the port
# project's own router (db_base_plugin_v2._enforce_device_owner_not_router_intf_or_device_id).
ROUTER_INTERFACE_OWNERS = (
    INTERFACE,
    "network:ha_router_replicated_interface",
    "network:router_interface_distributed",
)
ADMIN_ONLY_OWNERS = (GATEWAY, FLOATINGIP, MGMT, HA_INTERFACE)
# Router roles whose port only goes with the router (remove the interface, clear the gateway).
ROUTER_HELD = (INTERFACE, GATEWAY, HA_INTERFACE)


def is_network_device(owner: str) -> bool:
    return owner.startswith("network:")


def device_owner_allowed(owner: str, is_admin: bool, owns_network: bool) -> bool:
    """May this caller set ``owner`` on a port of that network?"""
    if is_admin or not is_network_device(owner):
        return True
    return owns_network and owner not in ADMIN_ONLY_OWNERS


def names_foreign_router(owner: str, device_id: str, port_project: str,
                         router_project: str | None) -> bool:
    """A router-interface label pointing at a router of another project.

    ``router_project`` is None when ``device_id`` names no router (then it is only a label).
    """
    if owner not in ROUTER_INTERFACE_OWNERS or not device_id or router_project is None:
        return False
    return router_project != port_project


# Neutron's create_port:<attr> / update_port:<attr> defaults for the attributes that
# decide which addresses the host's anti-spoofing lets a port use, or that probe which
# addresses others hold: admin or the network's owner, except a MAC change (admin only).
# A member on a shared network it does not own gets the port the network gives it.
_ADMIN_ONLY_UPDATE = ("mac_address",)


def _explicit(action: str, data: dict) -> list[str]:
    """The restricted attributes this request sets, as Neutron's policy names them.

    On create the request has its defaults filled in, so only a value other than the
    default counts (Neutron's ``_is_attribute_explicitly_set``); on update any
    attribute named counts. ``fixed_ips`` naming only a subnet is not restricted.
    """
    named = []
    if action == "create":
        if data.get("port_security_enabled", True) is False:
            named.append("port_security_enabled")
        if data.get("allowed_address_pairs"):
            named.append("allowed_address_pairs")
        if "mac_address" in data:
            named.append("mac_address")
    else:
        named += [k for k in ("port_security_enabled", "allowed_address_pairs", "mac_address")
                  if k in data]
    if any(isinstance(f, dict) and "ip_address" in f for f in data.get("fixed_ips") or ()):
        named.append("fixed_ips:ip_address")
    return named


def refused_attribute(action: str, data: dict, is_admin: bool,
                      owns_network: bool) -> str | None:
    """The policy rule (``create_port:allowed_address_pairs``, ...) this request breaks,
    or None. ``action`` is ``"create"`` or ``"update"``."""
    if is_admin:
        return None
    for attr in _explicit(action, data):
        if not owns_network or (action == "update" and attr in _ADMIN_ONLY_UPDATE):
            return f"{action}_port:{attr}"
    return None
