"""loadbalancer: load balancers, listeners, pools, members, health monitors, quotas

Revision ID: l001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "l001"
down_revision = "0001"
branch_labels = ("loadbalancer",)
depends_on = None


def _common() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "lb_loadbalancers",
        *_common(),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("vip_address", sa.String(length=64), nullable=False),
        sa.Column("vip_port_id", sa.String(length=36), nullable=False),
        sa.Column("vip_subnet_id", sa.String(length=36), nullable=False),
        sa.Column("vip_network_id", sa.String(length=36), nullable=False),
        sa.Column("vip_port_owned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_loadbalancers")),
    )
    op.create_index(op.f("ix_lb_loadbalancers_project_id"), "lb_loadbalancers", ["project_id"])
    op.create_index(op.f("ix_lb_loadbalancers_vip_port_id"), "lb_loadbalancers", ["vip_port_id"],
                    unique=True)
    op.create_table(
        "lb_pools",
        *_common(),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("lb_algorithm", sa.String(length=32), nullable=False),
        sa.Column("session_persistence", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["loadbalancer_id"], ["lb_loadbalancers.id"],
                                name=op.f("fk_lb_pools_loadbalancer_id_lb_loadbalancers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_pools")),
    )
    op.create_index(op.f("ix_lb_pools_project_id"), "lb_pools", ["project_id"])
    op.create_index(op.f("ix_lb_pools_loadbalancer_id"), "lb_pools", ["loadbalancer_id"])
    op.create_table(
        "lb_listeners",
        *_common(),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("protocol_port", sa.Integer(), nullable=False),
        sa.Column("connection_limit", sa.Integer(), nullable=False),
        sa.Column("default_pool_id", sa.String(length=36), nullable=True),
        sa.Column("insert_headers", sa.JSON(), nullable=False),
        sa.Column("timeout_client_data", sa.Integer(), nullable=False),
        sa.Column("timeout_member_connect", sa.Integer(), nullable=False),
        sa.Column("timeout_member_data", sa.Integer(), nullable=False),
        sa.Column("timeout_tcp_inspect", sa.Integer(), nullable=False),
        sa.Column("allowed_cidrs", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["loadbalancer_id"], ["lb_loadbalancers.id"],
                                name=op.f("fk_lb_listeners_loadbalancer_id_lb_loadbalancers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["default_pool_id"], ["lb_pools.id"],
                                name=op.f("fk_lb_listeners_default_pool_id_lb_pools"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_listeners")),
        sa.UniqueConstraint("loadbalancer_id", "protocol_port",
                            name=op.f("uq_lb_listeners_loadbalancer_id_protocol_port")),
    )
    op.create_index(op.f("ix_lb_listeners_project_id"), "lb_listeners", ["project_id"])
    op.create_index(op.f("ix_lb_listeners_loadbalancer_id"), "lb_listeners", ["loadbalancer_id"])
    op.create_index(op.f("ix_lb_listeners_default_pool_id"), "lb_listeners", ["default_pool_id"])
    op.create_table(
        "lb_members",
        *_common(),
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("protocol_port", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("backup", sa.Boolean(), nullable=False),
        sa.Column("subnet_id", sa.String(length=36), nullable=True),
        sa.Column("monitor_address", sa.String(length=64), nullable=True),
        sa.Column("monitor_port", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["pool_id"], ["lb_pools.id"],
                                name=op.f("fk_lb_members_pool_id_lb_pools"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_members")),
        sa.UniqueConstraint("pool_id", "address", "protocol_port",
                            name=op.f("uq_lb_members_pool_id_address_protocol_port")),
    )
    op.create_index(op.f("ix_lb_members_project_id"), "lb_members", ["project_id"])
    op.create_index(op.f("ix_lb_members_pool_id"), "lb_members", ["pool_id"])
    op.create_table(
        "lb_healthmonitors",
        *_common(),
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("delay", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("max_retries_down", sa.Integer(), nullable=False),
        sa.Column("http_method", sa.String(length=16), nullable=True),
        sa.Column("url_path", sa.String(length=2048), nullable=True),
        sa.Column("expected_codes", sa.String(length=64), nullable=True),
        sa.Column("http_version", sa.String(length=8), nullable=True),
        sa.Column("domain_name", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["pool_id"], ["lb_pools.id"],
                                name=op.f("fk_lb_healthmonitors_pool_id_lb_pools"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_healthmonitors")),
        sa.UniqueConstraint("pool_id", name=op.f("uq_lb_healthmonitors_pool_id")),
    )
    op.create_index(op.f("ix_lb_healthmonitors_project_id"), "lb_healthmonitors", ["project_id"])
    op.create_table(
        "lb_quotas",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        *[sa.Column(c, sa.Integer(), nullable=True) for c in (
            "loadbalancer", "listener", "pool", "member", "healthmonitor", "l7policy",
            "l7rule")],
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_lb_quotas")),
    )


def downgrade() -> None:
    for table in ("lb_quotas", "lb_healthmonitors", "lb_members", "lb_listeners", "lb_pools",
                  "lb_loadbalancers"):
        op.drop_table(table)
