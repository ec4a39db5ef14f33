"""The executor: the only place a reconcile step touches the outside world.

``execute(decision, ref, state)`` performs the chosen step with the clients
(boot, delete, replug, push), has the resource's driver write back what its API
shows (a router's status and the tenant ports its appliance serves; a load
balancer's provisioning and operating statuses), and records the step. In a cluster,
``fence`` is asked first, right before anything is done: a member that does not hold
the resource's lease (``cluster.leases``) performs nothing and writes nothing; one that
does carries the lease's epoch in its pushes, and an appliance that accepted a newer
epoch refuses them (``Fenced``): the same as the fence's refusal. When the lease row
still names this member at the epoch it pushed, the database's epochs went backwards
(a restore, a recreated table): ``advance`` raises the row past the appliance's epoch
(a compare-and-set) and the push is retried once. Failures of a remote system become a
RETRY outcome with the error recorded, never an exception out of the worker.
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from astara.orchestrator.clients.base import (
    ApplianceAPI,
    ComputeAPI,
    ConfigRefused,
    Fenced,
    NetworkAPI,
    RemoteError,
)
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.drivers.base import Driver
from astara.orchestrator.drivers.router import RouterDriver
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import Context, RouterState, StepRecord
from astara.orchestrator.reconcile.model import Decision, Outcome, OutcomeKind, Step
from astara.orchestrator.reconcile.tally import Tally
from astara.wire.tenure import Tenure, jump_refused

LOG = logging.getLogger(__name__)


def boot_request_id(router_id: str, boots: int) -> str:
    return f"req-{uuid.uuid5(uuid.NAMESPACE_URL, f'astara:{router_id}:boot:{boots}')}"


# The cluster's fence: why this process may not act on a resource now (a str), or the
# lease it acts under (a Tenure: its pushes carry it); None: it may, with no lease.
Fence = Callable[[ResourceRef], "str | Tenure | None"]
# Raise this member's lease on a resource from the pushed tenure's epoch past the
# epoch an appliance holds, if the row still names it at that epoch (None: it does not,
# a newer owner exists). ``cluster.leases.Leases.advance``.
Advance = Callable[[ResourceRef, Tenure, int], "Tenure | None"]


class Executor:
    def __init__(self, network: NetworkAPI, compute: ComputeAPI, appliance: ApplianceAPI,
                 drivers: Mapping[str, Driver] | None = None, fence: Fence | None = None,
                 advance: Advance | None = None):
        """``drivers`` by kind (``drivers.registry``); by default the router's alone.
        ``fence``: asked before every step (a cluster member); None: a single node.
        ``advance``: after an appliance's refusal, whether our epoch may move past it."""
        self.network, self.compute, self.appliance = network, compute, appliance
        self.fence, self.advance = fence, advance
        self.drivers = dict(drivers) if drivers is not None else {
            "router": RouterDriver(network)}
        # Steps performed without error since this process started, by name: the
        # workers' view shows them (how many pushes or boots a restart cost).
        self.performed: collections.Counter[str] = collections.Counter()
        self.tally = Tally()  # steps by outcome and their durations, for the metrics

    def execute(self, d: Decision, ref: ResourceRef, st: RouterState, now: float) -> Outcome:
        outcome, error = d.outcome, None
        started = time.monotonic()
        st.fenced = False
        # An HA router's member 1 is fenced by its router's lease (it has none of its own).
        owner = ResourceRef(ref.kind, router_ha.router_of(ref.id), ref.tenant_id) \
            if ref.kind == "router" else ref
        answer = self.fence(owner) if self.fence is not None else None
        tenure = answer if isinstance(answer, Tenure) else None
        why = answer if isinstance(answer, str) else None
        if why is not None:
            # Another member owns it now (or our lease lapsed): do nothing, store nothing.
            st.fenced, st.healthy = True, False
            LOG.warning("%s %s: %s not performed: %s", ref.kind, ref.id, d.step, why)
            st.steps.append(StepRecord(now, str(d.step), str(d.status), d.reason, "retry",
                                       0.0, f"fenced: {why}"))
            self.tally.step(str(d.step), "retry", False, time.monotonic() - started)
            return Outcome(OutcomeKind.RETRY)
        try:
            self._remove_extras(ref, st)
            self._perform(d.step, ref, st, d.memory.boots, tenure, owner)
            st.memory = d.memory
            if d.step in (Step.STOP_VM, Step.CLEAR_ERROR, Step.CREATE_VM):
                # the rebuild asked for has started
                st.force_rebuild = st.split_brain_rebuild = False
            if d.outcome.kind is OutcomeKind.TERMINAL:
                self.network.delete_management_port(ref.id)
                self.drivers[ref.kind].gone(ref)
                if ref.kind == "router" and router_ha.split(ref.id)[1]:
                    # the pair is over (HA off, or the router gone): so is its group
                    self.compute.delete_server_group(
                        router_ha.group_name(router_ha.router_of(ref.id)))
            else:
                self.drivers[ref.kind].report(ref, st, d)
        except Fenced as exc:
            # A paused member's push after its lease passed to another: stop here; the
            # next passes meet the lease fence (the row names the newer owner).
            LOG.warning("%s %s: %s refused: fenced by the appliance: a newer owner exists "
                        "(%s)", ref.kind, ref.id, d.step, exc)
            st.fenced, st.healthy = True, False
            st.steps.append(StepRecord(now, str(d.step), str(d.status), d.reason, "retry",
                                       0.0, f"fenced by the appliance: {exc}"))
            self.tally.step(str(d.step), "retry", False, time.monotonic() - started)
            return Outcome(OutcomeKind.RETRY)
        except RemoteError as exc:
            error = str(exc)
            outcome = Outcome(OutcomeKind.RETRY)
            LOG.warning("%s %s: %s failed: %s", ref.kind, ref.id, d.step, exc)
            if isinstance(exc, ConfigRefused):
                self._refused(d, ref, st, error)
        # After Alive, or a push the appliance accepted, the next periodic look can be
        # the one-call health check (it falls back to a full look if anything differs).
        st.healthy = d.step in (Step.ALIVE, Step.CONFIGURE_VM) and error is None
        st.steps.append(StepRecord(now, str(d.step), str(d.status), d.reason,
                                   str(outcome.kind), outcome.after, error))
        if error is None:
            self.performed[str(d.step)] += 1
        self.tally.step(str(d.step), str(outcome.kind), error is None,
                        time.monotonic() - started)
        if error is None and d.step is not Step.ALIVE:
            LOG.info("%s %s: %s (%s) -> %s in %.0f ms", ref.kind, ref.id, d.step, d.reason,
                     d.status, (time.monotonic() - started) * 1000)
        return outcome

    def _remove_extras(self, ref: ResourceRef, st: RouterState) -> None:
        # A boot that raced a restart can leave a second appliance: keep one.
        for extra in sorted(st.context.extra_instances):
            LOG.warning("%s %s: removing extra appliance instance %s", ref.kind, ref.id, extra)
            self.compute.delete(extra)
        st.context.extra_instances = frozenset()

    def _perform(self, step: Step, ref: ResourceRef, st: RouterState, boots: int,
                 tenure: Tenure | None = None, owner: ResourceRef | None = None) -> None:
        ctx = st.context
        if step is Step.CREATE_VM:
            # The router's ports are read again while its management port is made: two
            # calls to the network API side by side, each on the boot's path.
            with ThreadPoolExecutor(1, thread_name_prefix="boot-ports") as pool:
                fresh = pool.submit(self._boot_ports, ref, ctx)
                # None seen by this pass's look (its router model holds the port
                # once made, as the lookup does): made without asking again.
                mgmt = self.network.management_port(ref.id, create=True,
                                                    absent=ctx.mgmt_port_id is None)
                boot_ports = fresh.result()
            ports = [mgmt["id"]] + [p for p in boot_ports if p != mgmt["id"]]
            # The same boot retried (say, by a restarted orchestrator) is the same request.
            who = self.drivers[ref.kind].naming.identity(ref.id, ctx.generation)
            hints: dict = {"different_host": st.avoid} if st.avoid else {}
            if ctx.pair_group is not None:
                group, avoid = router_ha.boot_hints(
                    self.compute.server_group(ctx.pair_group, create=True), st.avoid)
                hints = {**({"different_host": avoid} if avoid else {}),
                         **({"group": group} if group else {})}
            ctx.instance_id = self.compute.boot(who, ports, boot_request_id(ref.id, boots),
                                                ctx.boot, **hints)
            if ctx.boot is not None and ctx.boot.source != "default":
                LOG.info("%s %s: booted from image %s, flavor %s (%s)", ref.kind, ref.id,
                         ctx.boot.image, ctx.boot.flavor, ctx.boot.source)
        elif step is Step.STOP_VM and ctx.instance_id:
            self.compute.delete(ctx.instance_id)
        elif step is Step.REPLUG_VM and ctx.instance_id:
            self._replug(ctx.instance_id, st)
        elif step is Step.CONFIGURE_VM:
            assert ctx.desired is not None and ctx.mgmt_address is not None
            assert ctx.instance_id is not None
            if tenure is None:
                self.appliance.push(ctx.mgmt_address, ctx.instance_id, ctx.desired)
                return
            address, instance, desired = ctx.mgmt_address, ctx.instance_id, ctx.desired
            st.told_epoch = self._fenced_call(
                owner or ref, tenure, f"{instance} at {address}",
                lambda t: self.appliance.push(address, instance, desired, t))
        elif step is Step.ALIVE and tenure is not None and st.told_epoch != tenure.epoch \
                and ctx.mgmt_address is not None and ctx.instance_id is not None:
            # Adopted healthy (no push): record our epoch at the appliance, so that a
            # paused former owner's push is refused there too.
            address, instance = ctx.mgmt_address, ctx.instance_id
            try:
                st.told_epoch = self._fenced_call(
                    owner or ref, tenure, f"{instance} at {address}",
                    lambda t: self.appliance.record_tenure(address, instance, t))
            except Fenced:
                raise
            except RemoteError as exc:
                # The appliance serves (it answered alive): not a failed step, or every
                # retry would be a full look. Told again at the next pass (its health
                # check), as ``told_epoch`` stays unset.
                LOG.warning("%s %s: epoch %d not recorded at appliance %s (%s): told "
                            "again at the next pass", ref.kind, ref.id, tenure.epoch,
                            address, exc)
                return
            self.performed["RecordTenure"] += 1

    def _boot_ports(self, ref: ResourceRef, ctx: Context) -> tuple[str, ...]:
        """The ports a boot plugs: a router's as read again now (one call), not as the
        look that chose the boot saw them. An interface added meanwhile (a router made,
        then its interface, the usual sequence) is plugged at boot, not by a replug
        once the appliance is up: an attach job and a pass more on the router's way
        to ready. An HA member's ports (made by its reads) and a load balancer's are
        the look's."""
        # (an HA router's members: ``pair_group`` is set even when no document was built)
        if ref.kind != "router" or ctx.pair_group is not None or router_ha.split(ref.id)[1]:
            return ctx.wanted_ports
        try:
            res = self.drivers[ref.kind].read(ref.id)
        except RemoteError as exc:
            LOG.warning("%s %s: ports not read again before the boot (%s): booting with "
                        "those of the last look", ref.kind, ref.id, exc)
            return ctx.wanted_ports
        if res is None or res.refused is not None:
            return ctx.wanted_ports  # gone or refused meanwhile: the next look decides
        fresh = {p["id"] for p in res.ports}
        if ctx.mgmt_port_id is not None:
            fresh.add(ctx.mgmt_port_id)
        ctx.wanted_ports = tuple(sorted(fresh))
        return ctx.wanted_ports

    def _fenced_call(self, owner: ResourceRef, tenure: Tenure, appliance: str,
                     call: Callable[[Tenure], None]) -> int:
        """``call`` under ``tenure``; refused (``Fenced``) while our row still names
        us, once more under the raised epoch. The epoch it went through under."""
        try:
            call(tenure)
            return tenure.epoch
        except Fenced as exc:
            newer = self._advance(owner, tenure, appliance, exc)
            if newer is None:
                raise
        call(newer)
        return newer.epoch

    def _advance(self, owner: ResourceRef, tenure: Tenure, appliance: str, exc: Fenced
                 ) -> Tenure | None:
        """The tenure to push again under after ``exc`` (None: stay fenced)."""
        if self.advance is None or exc.accepted is None or exc.accepted <= tenure.epoch:
            return None
        why = jump_refused(tenure.epoch, exc.accepted)
        if why is not None:  # a broken or hostile agent must not exhaust our epochs
            LOG.error("%s %s: appliance %s claims %s: not followed, staying fenced (check "
                      "its tenure.json)", owner.kind, owner.id, appliance, why)
            return None
        newer = self.advance(owner, tenure, exc.accepted)
        if newer is not None:
            LOG.warning("%s %s: the appliance holds epoch %d but our lease row still names "
                        "us at epoch %d (the database's epochs went backwards): lease "
                        "raised to epoch %d, pushing again", owner.kind, owner.id,
                        exc.accepted, tenure.epoch, newer.epoch)
        return newer

    def _replug(self, instance_id: str, st: RouterState) -> None:
        wanted = set(st.context.wanted_ports)
        attached = set(st.context.attached_ports)
        for port in sorted(wanted - attached):
            self.compute.attach(instance_id, port)
        for port in sorted(attached - wanted):
            self.compute.detach(instance_id, port)

    def _refused(self, d: Decision, ref: ResourceRef, st: RouterState, error: str) -> None:
        try:
            self.drivers[ref.kind].refused(ref, st, d, error)
        except RemoteError as exc:  # the next pass writes it again
            LOG.warning("%s %s: status write failed: %s", ref.kind, ref.id, exc)
