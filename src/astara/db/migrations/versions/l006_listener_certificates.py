"""loadbalancer: TERMINATED_HTTPS listeners' references and their PEM bundles

Revision ID: l006
Revises: l005
Create Date: 2026-12-02 19:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "l006"
down_revision = "l005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lb_listeners") as batch:
        batch.add_column(sa.Column("default_tls_container_ref", sa.String(length=255),
                                   nullable=True))
        batch.add_column(sa.Column("sni_container_refs", sa.JSON(), nullable=True))
    op.create_table(
        "lb_listener_certificates",
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listener_id"], ["lb_listeners.id"],
            name=op.f("fk_lb_listener_certificates_listener_id_lb_listeners"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("listener_id", "ref", name=op.f("pk_lb_listener_certificates")),
    )
    op.create_index(op.f("ix_lb_listener_certificates_project_id"),
                    "lb_listener_certificates", ["project_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lb_listener_certificates_project_id"),
                  table_name="lb_listener_certificates")
    op.drop_table("lb_listener_certificates")
    with op.batch_alter_table("lb_listeners") as batch:
        batch.drop_column("sni_container_refs")
        batch.drop_column("default_tls_container_ref")
