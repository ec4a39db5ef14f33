"""``astara-network-api``: serve the Neutron v2.0-compatible network API."""

from __future__ import annotations

import logging
import sys

import uvicorn

from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.common.entry import one_line_errors
from astara.network_service.app import create_app, uvicorn_options

LOG = logging.getLogger(__name__)


@one_line_errors("astara-network-api")
def main(argv: list[str] | None = None) -> int:
    _conf, settings = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-network-api")
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    app = create_app(settings)
    net = settings.network
    LOG.info("network API on http://%s:%s/ (database %s)", net.bind_host, net.bind_port,
             settings.database.url.split("@")[-1])
    uvicorn.run(app, host=net.bind_host, port=net.bind_port, log_level="warning",
                access_log=False, **uvicorn_options())
    return 0


if __name__ == "__main__":
    sys.exit(main())
