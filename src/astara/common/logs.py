"""Logging set-up shared by the entry points."""

import logging


def setup(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP call drowns what matters; keep them for --debug.
    logging.getLogger("httpx").setLevel(logging.DEBUG if debug else logging.WARNING)
    # Alembic announces its plugins at INFO on every schema check: noise before a
    # one-line configuration error, and nothing an operator acts on.
    logging.getLogger("alembic").setLevel(logging.DEBUG if debug else logging.WARNING)
