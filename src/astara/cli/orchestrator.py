"""``astara-orchestrator``: keep every router's appliance booted, configured and healthy.

Its worker processes are forked at start-up, before the schema check (alembic) and the
RPC and metadata servers are imported: they do not carry them. A worker that replaces a
dead one is spawned and re-runs this module (the script's main), so it imports at the
top only what every process needs.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import TYPE_CHECKING

from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.common.entry import one_line_errors
from astara.orchestrator import opts as orch_opts

if TYPE_CHECKING:
    import uvicorn

    from astara.orchestrator.service import Orchestrator

LOG = logging.getLogger(__name__)


IPV6_FREEBIND = 78  # linux/in6.h; Python's socket module does not name it
IP_FREEBIND = 15


def _sockets(hosts: tuple[str, ...], port: int, freebind: bool = False) -> list[socket.socket]:
    out = []
    for host in hosts:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto named: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it a keep-alive client waits 40 ms (delayed ACK) for each answer.
        s = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if freebind:
            # The management address appears when the compute agent plugs the
            # management bridge, which may be after we start.
            level, opt = ((socket.IPPROTO_IPV6, IPV6_FREEBIND) if family == socket.AF_INET6
                          else (socket.IPPROTO_IP, IP_FREEBIND))
            s.setsockopt(level, opt, 1)
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


@one_line_errors("astara-orchestrator")
def main(argv: list[str] | None = None) -> int:
    conf, settings = settings_mod.load(sys.argv[1:] if argv is None else argv,
                                       prog="astara-orchestrator",
                                       groups=orch_opts.GROUPS)
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    o = orch_opts.from_conf(conf)
    try:  # a wrong credential setup is one line, before anything starts
        token = private.read_secret(o.rpc_auth_token_file, "RPC auth token")
        private.read_secret(o.appliance_auth_key_file, "appliance deployment key")
    except private.SecretFileError as exc:
        raise SystemExit(f"astara-orchestrator: {exc}") from None
    if orch_opts.appliance_source(o) is not None:
        from astara.orchestrator import host_addresses

        host_addresses.check(o.management_address)  # a bind may succeed without it
    from astara.orchestrator.service import Orchestrator

    transport = None
    if settings.bus.transport == "amqp":
        def transport():  # oslo.messaging's [DEFAULT] transport_url and its own options
            from astara.bus import amqp

            return amqp.transport(conf)
    from astara.orchestrator.cluster import settings as cluster_settings

    orch = Orchestrator(settings, o, transport, cluster_settings.from_conf(conf))
    orch.spawn_workers()  # they import meanwhile, and wait for ``start``

    import uvicorn

    from astara.db import migrate
    from astara.orchestrator.rpc import build_app

    migrate.open_database(settings.database).dispose()  # the schema, before any worker
    orch.start()
    metadata = _metadata_server(orch, o)
    server = uvicorn.Server(uvicorn.Config(build_app(orch, token), log_level="warning",
                                           access_log=False))
    LOG.info("orchestrator: %d worker processes, RPC API on %s port %d",
             len(orch.workers), ", ".join(o.rpc_hosts), o.rpc_port)
    try:
        server.run(sockets=_sockets(o.rpc_hosts, o.rpc_port))
    finally:
        if metadata is not None:
            metadata.should_exit = True
        orch.stop()
    return 0


def _metadata_server(orch: Orchestrator, o) -> uvicorn.Server | None:
    import uvicorn

    from astara.orchestrator import metadata_proxy

    if not o.metadata_proxy_shared_secret:
        LOG.warning("metadata proxy off: [orchestrator] metadata_proxy_shared_secret is empty")
        return None
    assert orch.network is not None

    def held(address: str) -> str | None:
        return next((r["id"] for r in orch.router_views()
                     if r.get("management_address") == address), None)

    # Also the routers other members hold: their appliances may be pinned to this machine.
    finder = metadata_proxy.RouterFinder(held, orch.network)
    app = metadata_proxy.build_app(finder.find, metadata_proxy.InstanceResolver(orch.network),
                                   o.metadata_url, o.metadata_proxy_shared_secret)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    # The address the appliances' documents name (a cluster's shared one, held by the
    # compute agent: freebind, as it may come after us).
    address = orch_opts.metadata_address(o)
    socks = _sockets((address,), o.metadata_port, freebind=True)
    threading.Thread(target=server.run, kwargs={"sockets": socks}, daemon=True,
                     name="metadata-proxy").start()
    LOG.info("metadata proxy on [%s]:%d", address, o.metadata_port)
    return server


if __name__ == "__main__":
    sys.exit(main())
