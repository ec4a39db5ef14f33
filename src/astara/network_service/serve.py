"""Serving the network API: in this process, or from several worker processes.

With ``[network_service] workers`` above 1 this process migrates the schema once,
binds the listening socket and hands it to uvicorn's supervisor, which spawns the
workers (fresh interpreters: each opens its own database engine, write lock and
wake-up socket), replaces one that dies and stops them all on SIGTERM or SIGINT.
A worker dies with this process, so a supervisor killed outright leaves no worker
holding the port. Nothing a request needs lives in one worker's memory: addresses
and MACs are unique by the database's keys, writers queue on the SQLite file's
write lock (on PostgreSQL, on its row and advisory locks), and every consumer is
woken through the shared wake-up directory whichever worker committed.

Metrics: the workers write their counters to files in a fresh private directory
(prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), and whichever
worker answers ``/metrics`` sums every worker's, those of workers that died included,
so the counters never go back; the directory is removed when the supervisor stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, replace

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from astara.common import logs, metrics, private
from astara.common.children import die_with_parent
from astara.common.settings import Settings
from astara.db import migrate
from astara.db.engine import Database
from astara.loadbalancer_service.settings import LoadBalancerSettings
from astara.network_service.app import create_app, uvicorn_options

LOG = logging.getLogger(__name__)
# How long a worker may take to answer the supervisor before it is replaced. A worker
# answers only once it has imported the service: uvicorn's 5 s is too short for a
# busy host, where workers were then replaced in a loop and never served.
HEALTHCHECK_TIMEOUT = 60


def run(settings: Settings, lb: LoadBalancerSettings | None = None) -> int:
    """Serve until stopped; the exit status (non-zero: a worker could not start).
    ``lb``: the load-balancer service's settings (its Neutron LBaaS v2 paths)."""
    net = settings.network
    options = {"host": net.bind_host, "port": net.bind_port, "log_level": "warning",
               "access_log": False, **uvicorn_options()}
    if net.workers <= 1:
        app = create_app(settings, lb)
        _announce(settings)
        uvicorn.run(app, **options)
        return 0
    _prepare_database(settings)
    _announce(settings)
    # The schema is current: workers starting together must not all migrate it.
    ready = replace(settings, database=replace(settings.database, auto_migrate=False))
    config = uvicorn.Config(WorkerApp(ready, os.getpid(), lb), factory=True,
                            workers=net.workers, timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT,
                            **options)
    supervisor = Multiprocess(config, sockets=[listen(net.bind_host, net.bind_port)])
    # Set before the workers start (fresh interpreters read it at import): never an
    # inherited directory, whose files from an earlier run would be summed too.
    os.environ[metrics.MULTIPROC_ENV] = files = tempfile.mkdtemp(prefix="astara-metrics-")
    try:
        supervisor.run()
    finally:
        shutil.rmtree(files, ignore_errors=True)
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return 1 if failed else 0


def _announce(settings: Settings) -> None:
    """Said once the database is reached (a wrong one is an error line, not this)."""
    net = settings.network
    LOG.info("network API on http://%s:%s/ (database %s, %d worker%s)", net.bind_host,
             net.bind_port, settings.database.url.split("@")[-1], net.workers,
             "" if net.workers == 1 else "s")


def listen(host: str, port: int) -> socket.socket:
    """The socket every worker accepts on. Made as TCP explicitly: a socket whose
    protocol reads 0 (uvicorn's own) gets accepted connections asyncio leaves with
    Nagle's algorithm on, and a keep-alive client then waits ~40 ms per answer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"astara-network-api: cannot listen on {host}:{port}: "
                         f"{exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _prepare_database(settings: Settings) -> None:
    """Migrate (or reach) the database once, here: a bad URL fails before any worker."""
    db = Database(settings.database.url)
    try:
        if settings.database.auto_migrate:
            migrate.upgrade(db.engine)
        else:
            db.ping()
    finally:
        db.dispose()


@dataclass(frozen=True)
class WorkerApp:
    """The app factory a worker calls (uvicorn pickles it to the worker)."""

    settings: Settings
    parent_pid: int
    lb: LoadBalancerSettings | None = None

    def __call__(self) -> Starlette:
        die_with_parent(self.parent_pid)
        private.restrict_umask()
        logs.setup(self.settings.debug)
        return create_app(self.settings, self.lb)


