"""orchestrator: cluster ownership leases and members

Revision ID: o002
Revises: o001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "o002"
down_revision = "o001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orch_leases",
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_orch_leases")),
    )
    op.create_table(
        "orch_members",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("rpc_url", sa.String(length=255), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("coordination", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_orch_members")),
    )


def downgrade() -> None:
    op.drop_table("orch_members")
    op.drop_table("orch_leases")
