"""``astara-compute-api``: serve the Nova v2.1-compatible API and run the dispatcher.

The dispatcher (the only writer of instance state) runs in a thread of this process
unless ``--no-dispatcher`` is given (then run ``astara-compute-dispatcher``); its
metrics are then served on this API's ``/metrics``.
"""

from __future__ import annotations

import logging
import sys
import threading

import uvicorn
from oslo_config import cfg

from astara.bus.wakeup import WakeupDir
from astara.common import logs, private
from astara.common.entry import one_line_errors
from astara.compute_service import settings as settings_mod
from astara.compute_service.api.app import create_app
from astara.compute_service.dispatcher import consumer as dispatcher
from astara.compute_service.dispatcher import metrics as dispatcher_metrics

LOG = logging.getLogger(__name__)


@one_line_errors("astara-compute-api")
def main(argv: list[str] | None = None) -> int:
    conf, base, compute = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-compute-api",
        cli_opts=[cfg.BoolOpt("no-dispatcher", default=False,
                              help="Do not run the dispatcher in this process.")])
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(base.debug)
    app = create_app(base, compute)
    stop = threading.Event()
    thread: threading.Thread | None = None
    if not conf.no_dispatcher:
        disp = dispatcher.make(app.state.service.db, WakeupDir(base.bus.wakeup_dir),
                               base.bus.max_idle_wait, settings_mod.retry_policy(compute),
                               retention=base.bus.outbox_retention,
                               transport=settings_mod.bus_transport(conf, base))
        # Its messages and outbox lag on this API's /metrics (it has no listener here).
        dispatcher_metrics.register(app.state.metrics.exposed, disp)
        thread = threading.Thread(target=disp.run, args=(stop.is_set,), daemon=True,
                                  name="compute-dispatcher")
        thread.start()
    LOG.info("compute API on http://%s:%s/", compute.bind_host, compute.bind_port)
    try:
        uvicorn.run(app, host=compute.bind_host, port=compute.bind_port, log_level="warning",
                    access_log=False)
    finally:
        stop.set()
        if thread is not None:  # its lease released: a standby takes over at once
            thread.join(dispatcher.LEASE_TTL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
