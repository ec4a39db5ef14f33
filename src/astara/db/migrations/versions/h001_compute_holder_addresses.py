"""compute: the management address each holder claims (several holders)

Revision ID: h001
Revises: m001
Create Date: 2026-12-03 13:30:00

``compute_hosts.management_address``: the address a host named in ``[compute_service]
management_address_host`` holds on its management bridge, claimed by its agent at start.
Unique, so a second host configured with the same address is refused; NULL for every
other host (NULLs never collide). Existing rows get NULL: a holder claims at its next
start.
"""

import sqlalchemy as sa
from alembic import op

revision = "h001"
down_revision = "m001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_hosts") as batch:
        batch.add_column(sa.Column("management_address", sa.String(length=64),
                                   nullable=True))
        batch.create_unique_constraint(op.f("uq_compute_hosts_management_address"),
                                       ["management_address"])


def downgrade() -> None:
    with op.batch_alter_table("compute_hosts") as batch:
        batch.drop_constraint(op.f("uq_compute_hosts_management_address"), type_="unique")
        batch.drop_column("management_address")
