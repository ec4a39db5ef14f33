"""compute: server groups (Nova's os-server-groups) and their members

Revision ID: g001
Revises: v001
Create Date: 2026-12-03 06:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "g001"
down_revision = "v001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_server_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("max_server_per_host", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_server_groups")),
    )
    op.create_index(op.f("ix_compute_server_groups_project_id"), "compute_server_groups",
                    ["project_id"])
    op.create_table(
        "compute_server_group_members",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_compute_server_group_members")),
    )
    op.create_index(op.f("ix_compute_server_group_members_group_id"),
                    "compute_server_group_members", ["group_id"])


def downgrade() -> None:
    op.drop_table("compute_server_group_members")
    op.drop_table("compute_server_groups")
