"""bus: one holder at a time for a bus role (the compute dispatcher, the amqp relay)

Revision ID: b001
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "b001"
down_revision = "0001"
branch_labels = ("bus",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_leases",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_bus_leases")),
    )


def downgrade() -> None:
    op.drop_table("bus_leases")
