"""Creates a real Neutron's schema from its own models, then tools/neutron-loopback stamps
it at Neutron's migration heads.

Run with Neutron's virtualenv: ``NEUTRON_SCHEMA_DATABASE_URL=... python schema.py`` (the
URL from the environment: a password stays off command lines). Neutron's migrations
have been MySQL-only since 2025.2 (an ``ALTER TABLE tags CONVERT TO CHARACTER SET
utf8mb4``), so on PostgreSQL the schema comes from the model metadata Neutron itself
compares its migrations against (``neutron.db.migration.models.head``).
"""

import os

import sqlalchemy
from neutron.db.migration.models import head


def main(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    head.get_metadata().create_all(engine)
    engine.dispose()


if __name__ == "__main__":
    # The URL from the environment (it may hold a password: not on a command line).
    main(os.environ["NEUTRON_SCHEMA_DATABASE_URL"])
