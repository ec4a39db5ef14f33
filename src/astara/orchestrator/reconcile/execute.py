"""The executor: the only place a reconcile step touches the outside world.

``execute(decision, ref, state)`` performs the chosen step with the clients
(boot, delete, replug, push), writes the router status to the network API when
it changed, reports the tenant ports a configured appliance serves ACTIVE, and
records the step. Failures of a remote system become a RETRY
outcome with the error recorded, never an exception out of the worker.
"""

from __future__ import annotations

import collections
import logging
import time
import uuid

from astara.orchestrator.clients.base import ApplianceAPI, ComputeAPI, NetworkAPI, RemoteError
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import RouterState, StepRecord
from astara.orchestrator.reconcile.model import Decision, Outcome, OutcomeKind, Step

LOG = logging.getLogger(__name__)


def boot_request_id(router_id: str, boots: int) -> str:
    return f"req-{uuid.uuid5(uuid.NAMESPACE_URL, f'astara:{router_id}:boot:{boots}')}"


class Executor:
    def __init__(self, network: NetworkAPI, compute: ComputeAPI, appliance: ApplianceAPI):
        self.network, self.compute, self.appliance = network, compute, appliance
        # Steps performed without error since this process started, by name: the
        # workers' view shows them (how many pushes or boots a restart cost).
        self.performed: collections.Counter[str] = collections.Counter()

    def execute(self, d: Decision, ref: ResourceRef, st: RouterState, now: float) -> Outcome:
        outcome, error = d.outcome, None
        started = time.monotonic()
        try:
            self._remove_extras(ref, st)
            self._perform(d.step, ref, st, d.memory.boots)
            st.memory = d.memory
            if d.step in (Step.STOP_VM, Step.CLEAR_ERROR, Step.CREATE_VM):
                st.force_rebuild = False  # the rebuild asked for has started
            self._status(ref, st, d.status.neutron, d.outcome.kind)
            if d.step in (Step.CONFIGURE_VM, Step.ALIVE):
                self._activate_ports(ref, st)
        except RemoteError as exc:
            error = str(exc)
            outcome = Outcome(OutcomeKind.RETRY)
            LOG.warning("router %s: %s failed: %s", ref.id, d.step, exc)
        # After Alive, or a push the appliance accepted, the next periodic look can be
        # the one-call health check (it falls back to a full look if anything differs).
        st.healthy = d.step in (Step.ALIVE, Step.CONFIGURE_VM) and error is None
        st.steps.append(StepRecord(now, str(d.step), str(d.status), d.reason,
                                   str(outcome.kind), outcome.after, error))
        if error is None:
            self.performed[str(d.step)] += 1
        if error is None and d.step is not Step.ALIVE:
            LOG.info("router %s: %s (%s) -> %s in %.0f ms", ref.id, d.step, d.reason, d.status,
                     (time.monotonic() - started) * 1000)
        return outcome

    def _remove_extras(self, ref: ResourceRef, st: RouterState) -> None:
        # A boot that raced a restart can leave a second appliance: keep one.
        for extra in sorted(st.context.extra_instances):
            LOG.warning("router %s: removing extra appliance instance %s", ref.id, extra)
            self.compute.delete(extra)
        st.context.extra_instances = frozenset()

    def _perform(self, step: Step, ref: ResourceRef, st: RouterState, boots: int) -> None:
        ctx = st.context
        if step is Step.CREATE_VM:
            mgmt = self.network.management_port(ref.id, create=True)
            ports = [mgmt["id"]] + [p for p in ctx.wanted_ports if p != mgmt["id"]]
            # The same boot retried (say, by a restarted orchestrator) is the same request.
            ctx.instance_id = self.compute.boot(ref.id, ports, boot_request_id(ref.id, boots))
        elif step is Step.STOP_VM and ctx.instance_id:
            self.compute.delete(ctx.instance_id)
        elif step is Step.REPLUG_VM and ctx.instance_id:
            self._replug(ctx.instance_id, st)
        elif step is Step.CONFIGURE_VM:
            assert ctx.desired is not None and ctx.mgmt_address is not None
            assert ctx.instance_id is not None
            self.appliance.push(ctx.mgmt_address, ctx.instance_id, ctx.desired)

    def _replug(self, instance_id: str, st: RouterState) -> None:
        wanted = set(st.context.wanted_ports)
        attached = set(st.context.attached_ports)
        for port in sorted(wanted - attached):
            self.compute.attach(instance_id, port)
        for port in sorted(attached - wanted):
            self.compute.detach(instance_id, port)

    def _status(self, ref: ResourceRef, st: RouterState, status: str, kind: OutcomeKind) -> None:
        if kind is OutcomeKind.TERMINAL:
            self.network.delete_management_port(ref.id)
            return
        if st.status == "ACTIVE" and status == "BUILD":
            return  # a reconfigure or replug of a working router: it keeps forwarding
        if status != st.status:
            self.network.set_router_status(ref.id, status)
            st.status = status

    def _activate_ports(self, ref: ResourceRef, st: RouterState) -> None:
        # The appliance holds the document (pushed now, or reported): the tenant ports it
        # leases to are provisioned. One call per port, once: a failure is retried by the
        # next full look (the model still shows the port DOWN).
        while st.context.activate:
            port_id = st.context.activate[0]
            self.network.set_port_status(port_id, "ACTIVE")
            st.context.activate = st.context.activate[1:]
            LOG.info("router %s: port %s ACTIVE", ref.id, port_id)
