"""compute: the ``management`` flag of ports stored before it existed

Revision ID: m001
Revises: g001
Create Date: 2026-12-03 11:05:00

Ports an instance stored before the flag have no ``management`` key, so after an upgrade
the agents would see no management network at all. Filled from our own records only:
an appliance instance's FIRST stored port (eth0: the orchestrator always boots the
management port first, and only an admin boots the appliance image, so a tenant chooses
neither) is the management port iff its net_id or stored network name is the management
network's; every other port is not (a tenant's instance, an appliance's later port, even
on a tenant network named like the management one).

The configured ``[compute_service] management_network`` is not reachable from a
migration (every service's start may run it, with its own configuration), so the
default, ``astara-mgmt``, is what is matched. A cloud that configured another name or an
id keeps those ports unflagged: the holder then keeps its management bridge rather than
sweeping it (an empty read keeps it), and a rebuilt appliance is flagged by the API.
Only ports with no ``management`` key are touched; the downgrade leaves the key (older
code ignores it).
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
                     sa.column("image_id", sa.String(255)), sa.column("ports", sa.JSON))


def flagged(image_id: str, ports: list, management: str = MANAGEMENT_NETWORK) -> list | None:
    """``ports`` with ``management`` set on each port lacking it; None if none lacked it."""
    if not isinstance(ports, list) or not any(
            isinstance(p, dict) and "management" not in p for p in ports):
        return None
    out = []
    for i, port in enumerate(ports):
        if isinstance(port, dict) and "management" not in port:
            first = i == 0 and image_id == APPLIANCE_IMAGE
            port = {**port, "management": first and management in (
                port.get("net_id"), port.get("network_name"))}
        out.append(port)
    return out


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(instances.c.id, instances.c.image_id,
                                  instances.c.ports)).all()
    for id_, image_id, ports in rows:
        new = flagged(image_id, ports)
        if new is not None:
            conn.execute(instances.update().where(instances.c.id == id_).values(ports=new))


def downgrade() -> None:
    pass
