"""loadbalancer: L7 policies and their rules

Revision ID: l004
Revises: l003
Create Date: 2026-12-02 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "l004"
down_revision = "l003"
branch_labels = None
depends_on = None


def _stamped() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "lb_l7policies",
        *_stamped(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("redirect_pool_id", sa.String(length=36), nullable=True),
        sa.Column("redirect_url", sa.String(length=255), nullable=True),
        sa.Column("redirect_prefix", sa.String(length=255), nullable=True),
        sa.Column("redirect_http_code", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["listener_id"], ["lb_listeners.id"],
                                name=op.f("fk_lb_l7policies_listener_id_lb_listeners"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["redirect_pool_id"], ["lb_pools.id"],
                                name=op.f("fk_lb_l7policies_redirect_pool_id_lb_pools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_l7policies")),
    )
    op.create_index(op.f("ix_lb_l7policies_project_id"), "lb_l7policies", ["project_id"])
    op.create_index(op.f("ix_lb_l7policies_listener_id"), "lb_l7policies", ["listener_id"])
    op.create_index(op.f("ix_lb_l7policies_redirect_pool_id"), "lb_l7policies",
                    ["redirect_pool_id"])
    op.create_table(
        "lb_l7rules",
        *_stamped(),
        sa.Column("l7policy_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("compare_type", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("invert", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["l7policy_id"], ["lb_l7policies.id"],
                                name=op.f("fk_lb_l7rules_l7policy_id_lb_l7policies"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_l7rules")),
    )
    op.create_index(op.f("ix_lb_l7rules_project_id"), "lb_l7rules", ["project_id"])
    op.create_index(op.f("ix_lb_l7rules_l7policy_id"), "lb_l7rules", ["l7policy_id"])


def downgrade() -> None:
    op.drop_table("lb_l7rules")
    op.drop_table("lb_l7policies")
