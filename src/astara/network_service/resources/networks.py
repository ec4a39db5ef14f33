"""Networks: create, update, delete (refused while non-service ports remain)."""

from __future__ import annotations

from sqlalchemy import delete, select

from astara.common.device_owners import HA_INTERFACE
from astara.network_service import errors, views
from astara.network_service import models as m
from astara.network_service.resources.base import (
    Op,
    bump,
    disassociate_floating_ips,
    get_network,
    new_id,
    require_owner,
    stamp,
)

# Ports Neutron removes itself when their network goes (a DHCP port, an HA router's
# second appliance's port).
SERVICE_OWNERS = ("network:dhcp", HA_INTERFACE)


def create(op: Op, data: dict) -> m.Network:
    row = m.Network(id=data.get("id") or new_id(), project_id=data["project_id"])
    stamp(
        row,
        name=data["name"],
        description=data["description"],
        admin_state_up=data["admin_state_up"],
        status="ACTIVE",
        shared=data["shared"],
        external=data["router:external"],
        is_default=data["is_default"],
        mtu=data.get("mtu") or op.settings.global_physnet_mtu,
        port_security_enabled=data["port_security_enabled"],
        network_type=data.get("provider:network_type")
        or ("flat" if data["router:external"] else "local"),
        physical_network=data.get("provider:physical_network"),
        segmentation_id=data.get("provider:segmentation_id"),
        tags=[],
    )
    op.session.add(row)
    op.session.flush()
    op.notifier.emit("network.create.end", {"network": views.network(row, op.ctx, created=True)})
    return row


def update(op: Op, net_id: str, data: dict) -> m.Network:
    row = get_network(op.session, op.ctx, net_id)
    require_owner(op.ctx, row, "update_network")
    mapping = {"router:external": "external"}
    for key, value in data.items():
        setattr(row, mapping.get(key, key), value)
    bump(row)
    op.session.flush()
    op.notifier.emit("network.update.end", {"network": views.network(row, op.ctx)})
    return row


def delete_(op: Op, net_id: str) -> None:
    s = op.session
    row = get_network(s, op.ctx, net_id)
    require_owner(op.ctx, row, "delete_network")
    in_use = s.scalar(
        select(m.Port.id)
        .where(m.Port.network_id == net_id, m.Port.device_owner.not_in(SERVICE_OWNERS))
        .limit(1)
    )
    if in_use:
        raise errors.NetworkInUse(net_id=net_id)
    view = views.network(row, op.ctx)
    for port_id in list(s.scalars(select(m.Port.id).where(m.Port.network_id == net_id))):
        disassociate_floating_ips(s, port_id)
    s.execute(delete(m.Port).where(m.Port.network_id == net_id))
    for subnet in list(row.subnets):
        s.delete(subnet)
    s.flush()
    s.delete(row)
    s.flush()
    op.notifier.emit("network.delete.end", {"network": view, "network_id": net_id})
