"""loadbalancer: VIP ports of deleted load balancers, kept until their appliance is gone

Revision ID: l003
Revises: l002
Create Date: 2026-12-02 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "l003"
down_revision = "l002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lb_vip_releases",
        sa.Column("port_id", sa.String(36), primary_key=True),
        sa.Column("loadbalancer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_lb_vip_releases_loadbalancer_id", "lb_vip_releases",
                    ["loadbalancer_id"])


def downgrade() -> None:
    op.drop_index("ix_lb_vip_releases_loadbalancer_id", table_name="lb_vip_releases")
    op.drop_table("lb_vip_releases")
