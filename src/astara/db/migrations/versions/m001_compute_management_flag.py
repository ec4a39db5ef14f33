"""compute: the ``management`` flag of ports stored before it existed

Revision ID: m001
Revises: g001
Create Date: 2026-12-03 11:05:00

Ports an instance stored before the flag have no ``management`` key, so after an upgrade
the agents would see no management network at all. Filled from our own records only,
by the API's rule (``ports.is_management``: the network's name AND its owner), never
by the name stored on the port (a tenant writes a network's name):
an appliance instance's FIRST stored port (eth0: the orchestrator always boots the
management port first) is the management port iff our network service's record of
that port's network (``net_networks``, the same database) is THE one network named
like the management network and is owned by the instance's own project (the service
project, which made it); every other port is not (a tenant's instance, an appliance's
later port, even on a tenant network named like the management one).

When that cannot be decided from our records, nothing is flagged: against a real
Neutron (no ``net_networks`` rows), with two networks of that name (a tenant's beside
the real one: which is which is not ours to guess), or with a configured
``[compute_service] management_network`` other than the default (a migration cannot
read the service's configuration). Those appliances then get no management treatment
when plugged again until they are rebuilt (the orchestrator replaces an appliance it
cannot reach), and the holder keeps its management bridge rather than sweeping it (an
empty read keeps it). Left: a cloud whose only network of that name is a tenant's (its
orchestrator never made one) flags that tenant's appliance-image servers (which only
code before the admin-only appliance image let a member boot), as that code already
treated them. Only ports with no ``management`` key are touched; the downgrade leaves
the key (older code ignores it).
"""

import sqlalchemy as sa
from alembic import op

revision = "m001"
down_revision = "g001"
branch_labels = None
depends_on = None

# fixed here: the migration must not change with the application's code
APPLIANCE_IMAGE = "a57a0000-0000-4000-8000-000000000001"
MANAGEMENT_NETWORK = "astara-mgmt"  # [compute_service] management_network's default

instances = sa.table("compute_instances", sa.column("id", sa.String(36)),
                     sa.column("project_id", sa.String(255)),
                     sa.column("image_id", sa.String(255)), sa.column("ports", sa.JSON))
networks = sa.table("net_networks", sa.column("id", sa.String(36)),
                    sa.column("name", sa.String(255)), sa.column("project_id", sa.String(255)))


def flagged(image_id: str, project_id: str, ports: list,
            management: tuple[str, str] | None) -> list | None:
    """``ports`` with ``management`` set on each port lacking it; None if none lacked it.
    ``management``: (id, owner) of our one network named like the management network,
    None when there is not exactly one."""
    if not isinstance(ports, list) or not any(
            isinstance(p, dict) and "management" not in p for p in ports):
        return None
    out = []
    for i, port in enumerate(ports):
        if isinstance(port, dict) and "management" not in port:
            port = {**port, "management": bool(
                i == 0 and image_id == APPLIANCE_IMAGE and management is not None
                and port.get("net_id") == management[0] and project_id == management[1])}
        out.append(port)
    return out


def upgrade() -> None:
    conn = op.get_bind()
    named = conn.execute(sa.select(networks.c.id, networks.c.project_id)
                         .where(networks.c.name == MANAGEMENT_NETWORK)).all()
    management = (named[0][0], named[0][1]) if len(named) == 1 else None
    rows = conn.execute(sa.select(instances.c.id, instances.c.project_id,
                                  instances.c.image_id, instances.c.ports)).all()
    for id_, project_id, image_id, ports in rows:
        new = flagged(image_id, project_id, ports, management)
        if new is not None:
            conn.execute(instances.update().where(instances.c.id == id_).values(ports=new))


def downgrade() -> None:
    pass
