"""loadbalancer: a per-load-balancer revision of its intent (bumped by every write of it
or of a child; the orchestrator reports statuses against it)

Revision ID: l002
Revises: l001
Create Date: 2026-12-02 13:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "l002"
down_revision = "l001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lb_loadbalancers",
                  sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("lb_loadbalancers") as batch:
        batch.drop_column("revision")
