"""compute: an instance found by its name reads one index entry

Revision ID: p002
Revises: p001
Create Date: 2026-12-04 21:55:00

The orchestrator finds a router's appliance by its exact name (``GET /servers/detail
?name=^<name>$``, at every full look: before a boot and at each pass while it boots).
All appliances are the service project's, so neither the ``project_id`` nor the
``deleted`` index narrows that to one row: each look read every live instance (2,000
in the 1,000-router bench). ``compute_instances(name, project_id)`` makes it one
entry; both columns, so that SQLite (no statistics) prefers it to the one-column
``deleted`` index, which it took over a ``name`` index alone.
"""

from alembic import op

revision = "p002"
down_revision = "p001"
branch_labels = None
depends_on = None

INDEX = "ix_compute_instances_name_project"  # fixed here: models.NAME_INDEX


def upgrade() -> None:
    op.create_index(INDEX, "compute_instances", ["name", "project_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="compute_instances")
