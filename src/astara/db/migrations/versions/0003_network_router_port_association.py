"""network: router-port association (net_router_ports), filled from the existing routers

A router's ports now come from this table (as Neutron's ``routerports``), never from
a port's ``device_id``/``device_owner``, which its owner may write. The backfill
carries over only what the router's own records vouch for:

- the gateway: ``net_routers.gw_port_id``;
- interfaces: ports owned ``network:router_interface`` whose ``device_id`` names an
  existing router *of the same project* (or a project-less port). A port of another
  project naming the router is exactly the forgery this table closes, so it stays an
  ordinary port (logged); an admin re-attaches a genuine cross-project interface
  with ``add_router_interface``;
- management ports (``network:astara_management``) naming an existing router.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:39:42.957406
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LOG = logging.getLogger("alembic.runtime.migration")

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
MGMT = "network:astara_management"

_routers = sa.table("net_routers", sa.column("id"), sa.column("project_id"),
                    sa.column("gw_port_id"))
_ports = sa.table("net_ports", sa.column("id"), sa.column("project_id"),
                  sa.column("device_id"), sa.column("device_owner"))


def upgrade() -> None:
    router_ports = op.create_table(
        "net_router_ports",
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("port_type", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["port_id"], ["net_ports.id"],
            name=op.f("fk_net_router_ports_port_id_net_ports"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["router_id"], ["net_routers.id"],
            name=op.f("fk_net_router_ports_router_id_net_routers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("router_id", "port_id", name=op.f("pk_net_router_ports")),
        sa.UniqueConstraint("port_id", name=op.f("uq_net_router_ports_port_id")),
    )
    with op.batch_alter_table("net_router_ports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_net_router_ports_port_type"), ["port_type"], unique=False)
    _backfill(op.get_bind(), router_ports)


def _backfill(conn, router_ports) -> None:
    rows: dict[str, dict] = {}
    for router_id, gw in conn.execute(
            sa.select(_routers.c.id, _routers.c.gw_port_id)
            .where(_routers.c.gw_port_id.is_not(None))):
        rows[gw] = {"router_id": router_id, "port_id": gw, "port_type": GATEWAY}
    named = conn.execute(
        sa.select(_ports.c.id, _ports.c.project_id, _ports.c.device_owner,
                  _routers.c.id, _routers.c.project_id)
        .join(_routers, _routers.c.id == _ports.c.device_id)
        .where(_ports.c.device_owner.in_((INTERFACE, MGMT))))
    for port_id, port_project, owner, router_id, router_project in named:
        if port_id in rows:
            continue
        if owner == INTERFACE and port_project not in ("", router_project):
            LOG.warning("port %s of project %s names router %s of project %s: not carried "
                        "over as an interface", port_id, port_project, router_id,
                        router_project)
            continue
        rows[port_id] = {"router_id": router_id, "port_id": port_id, "port_type": owner}
    if rows:
        op.bulk_insert(router_ports, sorted(rows.values(), key=lambda r: r["port_id"]))


def downgrade() -> None:
    with op.batch_alter_table("net_router_ports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_net_router_ports_port_type"))
    op.drop_table("net_router_ports")
