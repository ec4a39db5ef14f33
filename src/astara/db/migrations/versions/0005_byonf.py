"""network: BYONF, a project's own appliance image and flavor per function type

One row per (project, function_type) (``router`` or ``loadbalancer``), written by an
admin through ``/v2.0/byonfs`` and read by the orchestrator when it boots that
project's appliances (``[DEFAULT] enable_byonf``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "net_byonfs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("function_type", sa.String(length=32), nullable=False),
        sa.Column("image_uuid", sa.String(length=36), nullable=False),
        sa.Column("flavor_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_net_byonfs")),
        sa.UniqueConstraint("project_id", "function_type",
                            name=op.f("uq_net_byonfs_project_id_function_type")),
    )


def downgrade() -> None:
    op.drop_table("net_byonfs")
