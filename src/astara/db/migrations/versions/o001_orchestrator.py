"""orchestrator: debug switches and router plan memory

Revision ID: o001
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "o001"
down_revision = "0001"
branch_labels = ("orchestrator",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orch_debug",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "target_id", name=op.f("pk_orch_debug")),
    )
    op.create_table(
        "orch_router_state",
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("memory", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("router_id", name=op.f("pk_orch_router_state")),
    )


def downgrade() -> None:
    op.drop_table("orch_router_state")
    op.drop_table("orch_debug")
