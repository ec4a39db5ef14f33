"""``astara-compute-metadata``: serve Nova's metadata API to a trusted, signing proxy.

Listens on ``[compute_service] metadata_bind_host``:``metadata_port`` and refuses to
start without ``metadata_secret`` (the HMAC key proxies sign ``X-Instance-ID`` with).
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from astara.common import logs, private
from astara.common.entry import one_line_errors
from astara.compute_service import settings as settings_mod
from astara.compute_service.metadata import routes as metadata
from astara.db.engine import Database

LOG = logging.getLogger(__name__)


@one_line_errors("astara-compute-metadata")
def main(argv: list[str] | None = None) -> int:
    _conf, base, compute = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-compute-metadata")
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(base.debug)
    if not compute.metadata_secret:
        LOG.error("[compute_service] metadata_secret is not set: refusing to serve metadata")
        return 2
    db = Database(base.database.url)
    db.ping()
    app = metadata.build_app(db, compute.metadata_secret)
    LOG.info("metadata on http://%s:%s/", compute.metadata_bind_host, compute.metadata_port)
    try:
        uvicorn.run(app, host=compute.metadata_bind_host, port=compute.metadata_port,
                    log_level="warning", access_log=False)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
