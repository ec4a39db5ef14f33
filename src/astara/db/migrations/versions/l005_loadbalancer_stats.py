"""loadbalancer: haproxy's counters per listener (kept over haproxy restarts) and a
failover count per load balancer

Revision ID: l005
Revises: l004
Create Date: 2026-12-02 16:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "l005"
down_revision = "l004"
branch_labels = None
depends_on = None

COUNTERS = ("bytes_in", "bytes_out", "active_connections", "total_connections",
            "request_errors", "base_bytes_in", "base_bytes_out", "base_total_connections",
            "base_request_errors")


def upgrade() -> None:
    op.add_column("lb_loadbalancers",
                  sa.Column("failover_count", sa.Integer(), nullable=False,
                            server_default="0"))
    op.create_table(
        "lb_listener_stats",
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.String(length=255), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.ForeignKeyConstraint(["listener_id"], ["lb_listeners.id"],
                                name=op.f("fk_lb_listener_stats_listener_id_lb_listeners"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["loadbalancer_id"], ["lb_loadbalancers.id"],
            name=op.f("fk_lb_listener_stats_loadbalancer_id_lb_loadbalancers"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("listener_id", name=op.f("pk_lb_listener_stats")),
    )
    op.create_index(op.f("ix_lb_listener_stats_loadbalancer_id"), "lb_listener_stats",
                    ["loadbalancer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lb_listener_stats_loadbalancer_id"),
                  table_name="lb_listener_stats")
    op.drop_table("lb_listener_stats")
    with op.batch_alter_table("lb_loadbalancers") as batch:
        batch.drop_column("failover_count")
