"""Ports: MACs, fixed IPs, device ownership, and what the port API may not delete.

``device_owner``/``device_id`` are labels under Neutron's policy (``port_policy``);
whether a port is a router's, and so cannot be deleted here, comes from the
router-port association and the floating IPs' records. ``status`` is an admin's to
write (the orchestrator's); an instance port's change is also told to Nova
(``vif_events``), once committed.
"""

from __future__ import annotations

from sqlalchemy import select

from astara.network_service import errors, macs, port_policy, views, vif_events
from astara.network_service import models as m
from astara.network_service.resources import allocation, persist, router_ports
from astara.network_service.resources.base import (
    Op,
    bump,
    disassociate_floating_ips,
    get_network,
    get_port,
    new_id,
    stamp,
)

_PORTS = m.Port.__table__


def _mac_in_use(op: Op, network_id: str, mac: str) -> bool:
    # On the session's connection, without the ORM layer: every port create asks. A
    # port is never left pending with its MAC (build and update flush it), so there
    # is nothing to autoflush first.
    return op.session.connection().scalar(select(_PORTS.c.id).where(
        _PORTS.c.network_id == network_id, _PORTS.c.mac_address == mac)) is not None


def _mac(op: Op, network_id: str, wanted: str | None) -> str:
    if wanted is not None:
        if _mac_in_use(op, network_id, wanted):
            raise errors.MacAddressInUse(net_id=network_id, mac=wanted)
        return wanted
    for _ in range(16):
        mac = macs.random_mac(op.settings.base_mac)
        if not _mac_in_use(op, network_id, mac):
            return mac
    raise errors.Conflict(message="Unable to generate a unique mac",
                          type_="MacAddressGenerationFailure")


def build(op: Op, data: dict, network: m.Network, notify: bool = True) -> m.Port:
    """Create a port row with its addresses (also used for router and floating IP ports)."""
    s = op.session
    owner = data.get("device_owner", "")
    row = m.Port(id=data.get("id") or new_id(), project_id=data["project_id"],
                 network_id=network.id, fixed_ips=[])  # a new port's: nothing to load
    stamp(
        row,
        name=data.get("name", ""),
        description=data.get("description", ""),
        mac_address=_mac(op, network.id, data.get("mac_address")),
        admin_state_up=data.get("admin_state_up", True),
        status=data.get("status", "DOWN"),
        device_id=data.get("device_id", ""),
        device_owner=owner,
        binding_host_id=data.get("binding:host_id", ""),
        port_security_enabled=data.get("port_security_enabled", network.port_security_enabled),
        allowed_address_pairs=data.get("allowed_address_pairs", []),
        tags=[],
    )
    allocation.check_foreign_subnets(op, network, data.get("fixed_ips"))
    plan = allocation.plan_requests(network, data.get("fixed_ips"), owner, row.mac_address)
    if allocation.picks_alone(s, plan):
        allocation.allocate(op, row, plan)  # picks the addresses, writes nothing
        persist.insert_new(s, row)
    else:
        s.add(row)
        allocation.allocate(op, row, plan)
    s.flush()  # the rest of the operation's pending rows, if any
    if notify:
        op.notifier.emit("port.create.end", {"port": views.port(row, op.ctx)})
    return row


def create(op: Op, data: dict) -> m.Port:
    if "network_id" not in data:
        raise errors.bad_attr(
            "Failed to parse request. Required attribute 'network_id' not specified"
        )
    network = get_network(op.session, op.ctx, data["network_id"])
    if network.project_id != op.ctx.project_id and not op.ctx.is_admin and not network.shared:
        raise errors.NetworkNotFound(net_id=network.id)
    _check_attribute_policy(op, "create", data, network)
    owner, device_id = data.get("device_owner", ""), data.get("device_id", "")
    _check_owner_policy(op, "create_port", owner, network)
    _check_device_id(op, owner, device_id, data["project_id"])
    row = build(op, data, network)
    _record_management_port(op, row, new=True)
    return row


def _check_attribute_policy(op: Op, action: str, data: dict, network: m.Network) -> None:
    rule = port_policy.refused_attribute(action, data, op.ctx.is_admin,
                                         network.project_id == op.ctx.project_id)
    if rule is not None:
        raise errors.PolicyNotAuthorized(action=rule)


def _check_owner_policy(op: Op, action: str, owner: str, network: m.Network) -> None:
    if not port_policy.device_owner_allowed(owner, op.ctx.is_admin,
                                            network.project_id == op.ctx.project_id):
        raise errors.PolicyNotAuthorized(action=f"{action}:device_owner")


def _check_device_id(op: Op, owner: str, device_id: str, port_project: str) -> None:
    """Neutron's _enforce_device_owner_not_router_intf_or_device_id."""
    if op.ctx.is_admin or owner not in port_policy.ROUTER_INTERFACE_OWNERS or not device_id:
        return
    router = op.session.get(m.Router, device_id)
    if port_policy.names_foreign_router(owner, device_id, port_project,
                                        router.project_id if router else None):
        raise errors.DeviceIDNotOwnedByTenant(device_id=device_id)


def _record_management_port(op: Op, row: m.Port, new: bool = False) -> None:
    """An admin (the orchestrator) labelling a port as a router's management port makes
    it one: the association records it. Only admins may use that label. ``new``: the
    port was just made, so no association names it yet."""
    if not op.ctx.is_admin:
        return
    s = op.session
    role = None if new else router_ports.role_of(s, row.id)
    wanted = row.device_owner == port_policy.MGMT and s.get(m.Router, row.device_id) is not None
    if role is not None and role[1] == port_policy.MGMT and (
            not wanted or role[0] != row.device_id):
        router_ports.detach(s, row.id)
        role = None
    if wanted and role is None:
        router_ports.attach(s, row.device_id, row, port_policy.MGMT)


def update(op: Op, port_id: str, data: dict) -> m.Port:
    s = op.session
    row = get_port(s, op.ctx, port_id)
    status_before = row.status
    if not op.ctx.is_admin:  # an admin may write any attribute: no network to read
        _check_attribute_policy(op, "update", data, s.get(m.Network, row.network_id))
    relabelled = "device_owner" in data or "device_id" in data
    if relabelled:
        network = s.get(m.Network, row.network_id)
        if "device_owner" in data:
            _check_owner_policy(op, "update_port", data["device_owner"], network)
        owner = data.get("device_owner") or row.device_owner
        device_id = data.get("device_id") or row.device_id
        if "device_owner" in data or data.get("device_id", row.device_id) != row.device_id:
            _check_device_id(op, owner, device_id, row.project_id)
    if "fixed_ips" in data:
        network = get_network(s, op.ctx, row.network_id) if not op.ctx.is_admin else s.get(
            m.Network, row.network_id)
        replace_fixed_ips(op, row, network, data.pop("fixed_ips"))
    if "mac_address" in data and data["mac_address"] != row.mac_address:
        if row.binding_host_id:
            raise errors.InUse(message=f"Port {row.id} is bound, its MAC cannot change",
                               type_="PortBound")
        old_mac = row.mac_address
        row.mac_address = _mac(op, row.network_id, data.pop("mac_address"))
        allocation.follow_mac(op, row, old_mac)
    data.pop("mac_address", None)
    if data.get("binding:host_id", row.binding_host_id) != row.binding_host_id:
        # As ML2: a port unbound, or bound to another host, is DOWN until wired there.
        data.setdefault("status", "DOWN")
    mapping = {"binding:host_id": "binding_host_id"}
    for key, value in data.items():
        if key in ("security_groups", "binding:vnic_type"):
            continue
        setattr(row, mapping.get(key, key), value)
    bump(row)
    s.flush()
    if relabelled:  # the label alone makes a management port (a binding leaves it)
        _record_management_port(op, row)
    op.notifier.emit("port.update.end", {"port": views.port(row, op.ctx)})
    event = vif_events.event(row.id, row.device_owner, row.device_id, status_before,
                             row.status)
    if event is not None:
        op.nova_events.append(event)
    return row


def keep_floating_ip_address(s, row: m.Port, requested: list[dict]) -> None:
    """As Neutron (its check before every port update, whoever asks for it): the address
    a floating IP is associated with stays on the port."""
    held = s.scalars(select(m.FloatingIP.fixed_ip_address).where(
        m.FloatingIP.fixed_port_id == row.id, m.FloatingIP.fixed_ip_address.is_not(None)))
    wanted = {item.get("ip_address") for item in requested}
    if any(address not in wanted for address in held):
        raise errors.BadRequest(
            resource="port", msg=f"Cannot update the fixed_ips of the port {row.id}, because "
            "its original fixed_ip has been associated to a floating ip")


def replace_fixed_ips(op: Op, row: m.Port, network: m.Network, requested: list[dict]) -> None:
    s = op.session
    keep_floating_ip_address(s, row, requested)
    keep = {(a.subnet_id, a.ip_address) for a in row.fixed_ips}
    allocation.check_foreign_subnets(op, network, requested)
    plan = allocation.plan_requests(network, requested, row.device_owner, row.mac_address)
    wanted = {(sn.id, ip) for sn, ip in plan if ip is not None}
    for alloc in list(row.fixed_ips):
        if (alloc.subnet_id, alloc.ip_address) not in wanted:
            row.fixed_ips.remove(alloc)
    s.flush()
    new = [(sn, ip) for sn, ip in plan if (sn.id, ip) not in keep or ip is None]
    allocation.allocate(op, row, new, start=len(row.fixed_ips))
    s.expire(row, ["fixed_ips"])  # read back in the database's order (by position)


def delete_(op: Op, port_id: str) -> None:
    s = op.session
    row = get_port(s, op.ctx, port_id)
    held = router_ports.held_by(s, port_id)
    if held is not None:
        raise errors.ServicePortInUse(port_id=port_id, reason=f"has device owner {held}")
    disassociate_floating_ips(s, port_id)
    view = views.port(row, op.ctx)
    s.delete(row)
    s.flush()
    op.notifier.emit("port.delete.end", {"port": view, "port_id": port_id})
