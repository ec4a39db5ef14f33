"""``astara-loadbalancer-api``: serve the Octavia v2-compatible load-balancer API.

Objects are recorded and stay ``PENDING_*`` until an orchestrator driver builds them
(the ``loadbalancer`` driver: not yet; see docs/loadbalancer.md).
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from astara.common import logs, private
from astara.common.entry import one_line_errors
from astara.loadbalancer_service import settings as settings_mod
from astara.loadbalancer_service.app import create_app

LOG = logging.getLogger(__name__)


@one_line_errors("astara-loadbalancer-api")
def main(argv: list[str] | None = None) -> int:
    _conf, base, lb = settings_mod.load(sys.argv[1:] if argv is None else argv,
                                        prog="astara-loadbalancer-api")
    private.restrict_umask()  # state and logs: owner only
    logs.setup(base.debug)
    app = create_app(base, lb)
    LOG.info("load-balancer API on http://%s:%s/ (network API %s)", lb.bind_host,
             lb.bind_port, lb.network_url)
    uvicorn.run(app, host=lb.bind_host, port=lb.bind_port, log_level="warning",
                access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
