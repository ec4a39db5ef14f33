"""Programmatic Alembic: upgrade/downgrade/current for ``astara-dbsync`` and services.

Each service may keep its own branch of the history (the orchestrator's is
``orchestrator``), so upgrades go to ``heads``.

The migration scripts live in ``astara/db/migrations``; models of every service
are imported there so ``alembic revision --autogenerate`` sees all tables.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from astara.common.settings import DatabaseSettings
from astara.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def open_database(settings: DatabaseSettings) -> Database:
    """A service's database, brought to the current schema first when
    ``[database] auto_migrate`` is on (the default)."""
    db = Database(settings.url)
    if settings.auto_migrate:
        upgrade(db.engine)
    return db


def upgrade(engine: Engine, revision: str = "heads") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The revisions the database is at (one per service branch), comma-separated."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None


def head() -> str:
    """The latest revisions of every branch, comma-separated like ``current``."""
    return ",".join(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))
