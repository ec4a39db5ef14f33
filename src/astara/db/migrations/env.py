"""Alembic environment: runs against the connection handed over by astara.db.migrate."""

from alembic import context
from sqlalchemy import create_engine

from astara.bus import lease, outbox  # noqa: F401  (registers bus tables)
from astara.compute_service import models as compute_models  # noqa: F401  (compute_ tables)
from astara.db.base import Base
from astara.loadbalancer_service import models as lb_models  # noqa: F401  (lb_ tables)
from astara.network_service import models  # noqa: F401  (registers net_ tables)
from astara.orchestrator import models as orchestrator_models  # noqa: F401  (orch_ tables)

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
