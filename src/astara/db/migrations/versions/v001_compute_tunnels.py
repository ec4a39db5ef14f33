"""compute: hosts' tunnel addresses and the networks' VNIs (L2 between hosts, VXLAN)

Revision ID: v001
Revises: 0005
Create Date: 2026-12-03 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "v001"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("compute_hosts",
                  sa.Column("tunnel_address", sa.String(length=64), nullable=True))
    op.create_table(
        "compute_network_vnis",
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("vni", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("network_id", name=op.f("pk_compute_network_vnis")),
        sa.UniqueConstraint("vni", name=op.f("uq_compute_network_vnis_vni")),
    )


def downgrade() -> None:
    op.drop_table("compute_network_vnis")
    with op.batch_alter_table("compute_hosts") as batch:
        batch.drop_column("tunnel_address")
