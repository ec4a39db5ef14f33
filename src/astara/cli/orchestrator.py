"""``astara-orchestrator``: keep every router's appliance booted, configured and healthy."""

from __future__ import annotations

import logging
import signal
import socket
import sys

import uvicorn

from astara.common import logs
from astara.common import settings as settings_mod
from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator import opts as orch_opts
from astara.orchestrator.rpc import build_app
from astara.orchestrator.service import Orchestrator

LOG = logging.getLogger(__name__)


def _sockets(hosts: tuple[str, ...], port: int) -> list[socket.socket]:
    out = []
    for host in hosts:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            LOG.warning("RPC API cannot listen on [%s]:%d: %s", host, port, exc)
            s.close()
            continue
        out.append(s)
    if not out:
        raise SystemExit(f"astara-orchestrator: cannot listen on any of {hosts} port {port}")
    return out


def main(argv: list[str] | None = None) -> int:
    conf, settings = settings_mod.load(sys.argv[1:] if argv is None else argv,
                                       prog="astara-orchestrator",
                                       groups={orch_opts.GROUP: orch_opts.OPTS})
    logs.setup(settings.debug)
    o = orch_opts.from_conf(conf)
    if settings.database.auto_migrate:
        db = Database(settings.database.url)
        migrate.upgrade(db.engine)
        db.dispose()
    orch = Orchestrator(settings, o)
    orch.start()
    server = uvicorn.Server(uvicorn.Config(build_app(orch), log_level="warning",
                                           access_log=False))
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    LOG.info("orchestrator: %d worker processes, RPC API on %s port %d",
             len(orch.workers), ", ".join(o.rpc_hosts), o.rpc_port)
    try:
        server.run(sockets=_sockets(o.rpc_hosts, o.rpc_port))
    finally:
        orch.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
