"""``astara-compute-dispatcher``: apply agent events to instance state (standalone)."""

from __future__ import annotations

import signal
import sys
import threading
from wsgiref.simple_server import WSGIServer

from astara.bus.wakeup import WakeupDir
from astara.common import logs, metrics, private
from astara.common.entry import one_line_errors
from astara.compute_service import settings as settings_mod
from astara.compute_service.dispatcher import consumer as dispatcher
from astara.compute_service.dispatcher import metrics as dispatcher_metrics
from astara.db import migrate


@one_line_errors("astara-compute-dispatcher")
def main(argv: list[str] | None = None) -> int:
    conf, base, compute = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-compute-dispatcher")
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(base.debug)
    db = migrate.open_database(base.database)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wake = WakeupDir(base.bus.wakeup_dir)
    disp = dispatcher.make(db, wake, min(base.bus.max_idle_wait, 1.0),
                           settings_mod.retry_policy(compute),
                           retention=base.bus.outbox_retention,
                           transport=settings_mod.bus_transport(conf, base))
    if compute.dispatcher_metrics_port:
        serve_metrics(disp, compute.metrics_bind_host, compute.dispatcher_metrics_port)
    try:
        disp.run(stop.is_set)
    finally:
        disp.consumer.close()
    return 0


def serve_metrics(disp: dispatcher.Dispatcher, host: str, port: int) -> WSGIServer:
    """Its messages by result and its outbox lag, on a loopback listener (no API)."""
    registry = metrics.registries().exposed
    dispatcher_metrics.register(registry, disp)
    return metrics.listen(registry, host, port)


if __name__ == "__main__":
    sys.exit(main())
