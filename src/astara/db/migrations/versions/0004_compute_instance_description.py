"""compute: a server's description (Nova's ``description``, microversion 2.19)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("compute_instances",
                  sa.Column("description", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("description")
