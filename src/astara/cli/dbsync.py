"""``astara-dbsync``: create or migrate the database schema (Alembic).

    astara-dbsync [--config-file F ...] upgrade [REVISION]
    astara-dbsync [--config-file F ...] downgrade REVISION
    astara-dbsync [--config-file F ...] current
"""

from __future__ import annotations

import sys

from oslo_config import cfg

from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.common.entry import one_line_errors
from astara.db import migrate
from astara.db.engine import Database


def _add_commands(subparsers) -> None:
    up = subparsers.add_parser("upgrade", help="Upgrade the schema (default: every branch to "
                               "its head).")
    up.add_argument("revision", nargs="?", default="heads")
    down = subparsers.add_parser("downgrade", help="Downgrade the schema to REVISION.")
    down.add_argument("revision")
    subparsers.add_parser("current", help="Print the schema revision of the database.")


@one_line_errors("astara-dbsync")
def main(argv: list[str] | None = None) -> int:
    command = cfg.SubCommandOpt("command", handler=_add_commands)
    conf, settings = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-dbsync", cli_opts=[command])
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    if not getattr(conf.command, "name", None):
        print("astara-dbsync: error: a command is required: upgrade, downgrade or current",
              file=sys.stderr)
        return 2
    db = Database(settings.database.url)
    try:
        name = conf.command.name
        if name == "upgrade":
            migrate.upgrade(db.engine, conf.command.revision)
            print(f"database at revision {migrate.current(db.engine)}")
        elif name == "downgrade":
            migrate.downgrade(db.engine, conf.command.revision)
            print(f"database at revision {migrate.current(db.engine)}")
        else:
            print(migrate.current(db.engine) or "empty (no schema)")
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
