"""``astara-compute-agent``: this host's agent with the netns backend (needs root)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from wsgiref.simple_server import WSGIServer

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.common import logs, metrics, private
from astara.common.entry import one_line_errors
from astara.compute_service import jobs
from astara.compute_service import settings as settings_mod
from astara.compute_service.agent import (
    bridge_ports,
    holders,
    mgmt_conflict,
    neighbour_limits,
)
from astara.compute_service.agent import metrics as agent_metrics
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.worker import Agent
from astara.db import migrate

LOG = logging.getLogger("astara-compute-agent")


@one_line_errors("astara-compute-agent")
def main(argv: list[str] | None = None) -> int:
    _conf, base, compute = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-compute-agent")
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(base.debug)
    db = migrate.open_database(base.database)
    refused = holders.claim_at_start(db, compute)
    if refused:
        LOG.error(refused)  # two holders of one address: neither would be reached
    backend = NetnsBackend.from_settings(compute, db=db, holding=refused is None)
    if removed := backend.drop_tunnels():
        LOG.warning("tunnel_address is empty: removed this host's vxlan devices %s",
                    ", ".join(removed))
    for line in mgmt_conflict.check(db, backend.runner, compute):
        LOG.error(line)  # a stale holder otherwise shows only as routers that never boot
    for line in mgmt_conflict.check_holder(db, compute.management_address_host, compute.host):
        LOG.warning(line)  # a typo otherwise shows only as appliances never reached
    for line in neighbour_limits.check(compute.host_capacity):
        LOG.warning(line)  # otherwise seen only as an overflow in dmesg and lost traffic
    if line := bridge_ports.capacity_warning(compute.host_capacity,
                                             tunnelled=bool(compute.tunnel_address)):
        LOG.warning(line)  # otherwise seen only as plugs refused past the 1,023rd
    job_wake = WakeupDir(jobs.wakeup_dir(base.bus.wakeup_dir))
    agent = Agent(db, backend, compute.host, OutboxPublisher(WakeupDir(base.bus.wakeup_dir)),
                  job_wake, compute.host_capacity, compute.availability_zone,
                  workers=compute.agent_workers, idle_wait=base.bus.max_idle_wait,
                  heartbeat_interval=compute.heartbeat_interval,
                  reconcile_interval=compute.reconcile_interval,
                  reconcile_fix=compute.reconcile_fix,
                  tunnel_address=compute.tunnel_address or None,
                  holder_address=compute.management_host_address
                  if backend.mgmt_tunnelled and backend.holds_mgmt_address else None)
    if compute.agent_metrics_port:
        serve_metrics(agent, compute.metrics_bind_host, compute.agent_metrics_port)
    stop = threading.Event()

    def _stop(*_):
        stop.set()
        job_wake.notify()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    agent.run(stop.is_set)
    return 0


def serve_metrics(agent: Agent, host: str, port: int) -> WSGIServer:
    """Its jobs by operation and status, on a listener of its own (it has no API)."""
    registry = metrics.registries().exposed
    agent_metrics.register(registry, agent)
    return metrics.listen(registry, host, port)


if __name__ == "__main__":
    sys.exit(main())
