"""A boot's end (``compute.instance.create.end``) checks the new appliance alone.

The full look after the boot saw the instance building with every port of the
document it built: the pass the boot's end asks for calls the appliance's status and
pushes, without reading the router's model or the instance again. Anything less
known, an appliance that does not answer, an HA member, or a full look asked in the
same intake batch, is a full look as before."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
from tests.orchestrator_intake import intake_batches
from tests.orchestrator_world import REF, RID
from tests.unit.orchestrator.test_orchestrator_intake import ROUTER, appliance_event
from tests.unit.orchestrator.test_orchestrator_reconciler import World, converge

from astara.common.settings import defaults
from astara.orchestrator.clients.fakes import FakeNetwork
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.drivers.router import HaMember, RouterDriver
from astara.orchestrator.intake import boot_ended
from astara.orchestrator.opts import defaults as orch_defaults
from astara.orchestrator.reconcile import boot_end
from astara.orchestrator.reconcile.model import Step
from astara.orchestrator.service import Orchestrator
from astara.orchestrator.worker.process import take_submit

INSTANCE = json.loads(appliance_event()["oslo.message"])["payload"]["instance_id"]


@pytest.mark.parametrize("event_type, ended", [
    ("compute.instance.create.end", INSTANCE),
    ("compute.instance.create.start", None),
    ("compute.instance.create.error", None),
    ("compute.instance.delete.end", None),
    ("compute.instance.interface_attach.end", None),
])
def test_only_a_create_end_is_a_boots_end_and_names_its_instance(event_type, ended):
    message = appliance_event(event_type)
    assert boot_ended(message) == ended
    assert boot_ended(json.loads(message["oslo.message"])) == ended


@pytest.mark.parametrize("message", [
    {"oslo.message": "{not json"}, "text", None, {},
    {"event_type": "compute.instance.create.end", "payload": "x"},
    {"event_type": "compute.instance.create.end", "payload": {"instance_id": 7}},
    {"event_type": "compute.instance.create.end", "payload": {"instance_id": ""}}])
def test_a_malformed_message_is_no_boots_end(message):
    assert boot_ended(message) is None


def booting(w: World) -> str:
    """Boot, then the full look that sees the instance building; then the compute
    service finishes it (what its create.end says). The instance's id."""
    w.step()
    w.step()
    assert w.steps() == ["CreateVM", "CheckBoot"]
    [server] = w.compute.servers.values()
    assert server.status == "BUILD"
    server.status = "ACTIVE"
    w.reset_calls()
    return server.id


def test_a_boots_end_checks_the_appliance_alone_and_pushes():
    w = World()
    instance = booting(w)
    w.rec.state(REF).context.activate = ("tenant-port",)  # what the look found DOWN
    w.rec.boot_ended(REF, instance)
    w.step(full=False)
    assert w.steps()[-1] == Step.CONFIGURE_VM
    assert [c[0] for c in w.compute.calls] == []  # no find
    assert [c[0] for c in w.appliances.calls] == ["status", "push"]
    # no model read; the tenant ports it serves reported ACTIVE, as after a full push
    assert w.network.calls == [("set_port_status", "tenant-port", "ACTIVE")]
    w.reset_calls()
    w.step(full=False)  # and it is healthy: the next check is one call
    assert w.steps()[-1] == Step.ALIVE and w.calls() == 2  # status, router ACTIVE
    assert w.network.statuses[RID] == "ACTIVE"


def test_a_booting_routers_pass_not_woken_by_its_boots_end_looks_at_everything():
    w = World()
    booting(w)
    w.step(full=False)  # a periodic boot check: the address may not be there yet
    assert ("find", RID) in w.compute.calls
    assert w.steps()[-1] == Step.CONFIGURE_VM


def test_a_boots_end_is_taken_once():
    w = World()
    w.rec.boot_ended(REF, booting(w))
    w.rec.state(REF).context = replace(w.rec.state(REF).context, attached_ports=frozenset())
    w.step(full=False)  # not enough known: a full look, the flag spent
    assert ("find", RID) in w.compute.calls
    assert REF not in w.rec._booted


def test_the_end_of_another_instances_boot_is_a_full_look():
    w = World()
    booting(w)
    w.rec.boot_ended(REF, "a-racing-boots-instance")  # not the one the look saw
    w.step(full=False)
    assert ("find", RID) in w.compute.calls


def test_a_boots_end_right_after_the_boot_call_looks_at_everything():
    w = World()
    w.step()  # CreateVM: no look saw the instance yet
    [server] = w.compute.servers.values()
    server.status = "ACTIVE"
    w.reset_calls()
    w.rec.boot_ended(REF, server.id)
    w.step(full=False)
    assert [c[0] for c in w.compute.calls][:1] == ["find"]
    assert [c[0] for c in w.appliances.calls][:1] == ["status"]  # after the look, once
    assert w.steps()[-1] == Step.CONFIGURE_VM


def test_an_appliance_silent_at_its_boots_end_is_waited_for_then_looked_at_whole():
    w = World()
    instance = booting(w)
    w.appliances.mute.add(w.rec.state(REF).context.mgmt_address)  # not answering yet
    w.rec.boot_ended(REF, instance)
    w.step(full=False)
    assert [c[0] for c in w.appliances.calls] == ["status"]  # asked once, not twice
    assert w.compute.calls == [] and w.steps()[-1] == Step.CHECK_BOOT
    w.compute.servers[instance].status = "ERROR"  # it failed after all
    w.reset_calls()
    w.step(full=False)  # the wait's pass is a full look: it sees the ERROR
    assert ("find", RID) in w.compute.calls and w.steps()[-1] == Step.STOP_VM


def test_a_boots_end_after_a_debug_session_is_a_full_look():
    """A debugger may have changed the router and its appliance: the first pass after
    debug mode reads everything again, even the one a boot's end asks for."""
    w = World()
    instance = booting(w)
    w.debug = True
    w.step(full=False)  # left alone in debug mode: what this worker holds is stale
    w.debug = False
    w.reset_calls()
    w.rec.boot_ended(REF, instance)
    w.step(full=False)
    assert ("find", RID) in w.compute.calls  # a full look, not the one call
    assert w.steps()[-1] == Step.CONFIGURE_VM


def test_a_released_router_leaves_no_boots_end_behind():
    w = World()
    w.rec.boot_ended(REF, booting(w))
    w.rec.release(REF)  # another member's now: its pass never comes here
    assert REF not in w.rec._booted


def test_an_ha_members_boots_end_is_a_full_look():
    w = World()
    instance = booting(w)
    st = w.rec.state(REF)
    st.context = replace(st.context, pair_group=router_ha.group_name(RID))
    w.rec.boot_ended(REF, instance)
    w.step(full=False)
    assert ("find", RID) in w.compute.calls


def test_a_pairs_boots_end_looks_at_both_members_whole():
    w = World()
    instance = booting(w)
    w.rec.state(replace(REF, id=router_ha.member_id(RID)))  # its member 1 is known here
    w.rec.boot_ended(REF, instance)
    w.step(full=False)
    assert ("find", RID) in w.compute.calls
    assert ("find", router_ha.member_id(RID)) in w.compute.calls


def test_a_healthy_routers_boots_end_is_a_full_look_that_finds_a_duplicate():
    w = World()
    converge(w)
    [kept] = w.compute.servers
    # a boot raced a restart: a second appliance, whose create.end comes now
    extra = w.compute.boot(w.rec.executor.drivers["router"].naming.identity(RID, 0),
                           ["mgmt-x"])
    w.compute.servers[extra].status = "ACTIVE"
    w.reset_calls()
    w.rec.boot_ended(REF, extra)
    w.step(full=False)
    assert ("find", RID) in w.compute.calls
    assert ("delete", min(kept, extra)) in w.compute.calls  # the older one goes


# -- the rule (boot_end.one_call) --------------------------------------------------

def _no_boot(st):
    st.memory = replace(st.memory, boot_started=None)


@pytest.mark.parametrize("change", [
    pytest.param(lambda st: setattr(st, "healthy", True), id="healthy: a duplicate"),
    pytest.param(lambda st: setattr(st, "force_rebuild", True), id="rebuild asked"),
    pytest.param(_no_boot, id="not booting"),
    pytest.param(lambda st: setattr(st, "context", replace(st.context, desired=None)),
                 id="no document"),
    pytest.param(lambda st: setattr(st, "context", replace(st.context, desired_digest=None)),
                 id="no digest"),
    pytest.param(lambda st: setattr(st, "context", replace(st.context, mgmt_address=None)),
                 id="no address"),
    pytest.param(lambda st: setattr(st, "context", replace(st.context, instance_id="other")),
                 id="another instance"),
    pytest.param(lambda st: setattr(st, "context", replace(
        st.context, extra_instances=frozenset({"dup"}))), id="a duplicate seen"),
    pytest.param(lambda st: setattr(st, "context", replace(st.context, wanted_ports=(),
                                                           attached_ports=frozenset())),
                 id="no ports"),
    pytest.param(lambda st: setattr(st, "context", replace(
        st.context, attached_ports=frozenset(list(st.context.wanted_ports)[1:]))),
        id="a port not attached"),
    pytest.param(lambda st: setattr(st, "context", replace(st.context, pair_group="g")),
                 id="an HA pair's"),
    pytest.param(lambda st: setattr(st, "context", replace(
        st.context, kept=HaMember(RID, 0, (), None))), id="an HA member's document"),
])
def test_the_one_call_rule_needs_all_it_names(change):
    w = World()
    instance = booting(w)
    st = w.rec.state(REF)
    assert boot_end.one_call(REF, st, instance)
    change(st)
    assert not boot_end.one_call(REF, st, instance)


def test_the_one_call_rule_is_for_a_single_routers_member_0_only():
    w = World()
    instance = booting(w)
    st = w.rec.state(REF)
    assert not boot_end.one_call(replace(REF, kind="loadbalancer"), st, instance)
    assert not boot_end.one_call(replace(REF, id=router_ha.member_id(RID)), st, instance)


# -- intake: what is submitted --------------------------------------------------------

@pytest.fixture
def orch(tmp_path):
    base = defaults(tmp_path)
    o = Orchestrator(replace(base, bus=replace(base.bus, transport="outbox")), orch_defaults())
    o.drivers = {"router": RouterDriver(FakeNetwork())}
    o.o = replace(o.o, service_project_id="astara-service")
    o.known[ROUTER] = replace(REF, id=ROUTER)  # the router the events' appliance serves
    yield o
    o.db.dispose()


def test_a_boots_end_is_submitted_as_one_and_a_full_look_asked_after_it_still_is(orch):
    ended = appliance_event(tenant_id="astara-service")
    gone = appliance_event("compute.instance.delete.end", tenant_id="astara-service")
    assert intake_batches(orch, [[ended]]) == [(ROUTER, INSTANCE)]
    assert intake_batches(orch, [[ended, gone]]) == [(ROUTER, INSTANCE), (ROUTER, None)]
    assert intake_batches(orch, [[gone, ended]]) == [(ROUTER, None)]  # the full one covers it
    assert intake_batches(orch, [[ended, ended]]) == [(ROUTER, INSTANCE)]
    assert intake_batches(orch, [[ended], [ended]]) == [(ROUTER, INSTANCE), (ROUTER, INSTANCE)]


def test_a_boots_end_travels_to_the_worker_with_its_instance(orch):
    sent = []
    orch._send = lambda ref, msg: sent.append(msg)  # type: ignore[method-assign]
    orch.submit(REF, booted="inst-1")
    orch.submit(REF)
    assert sent == [("submit", tuple(REF.__dict__.values()), False, "inst-1"),
                    ("submit", tuple(REF.__dict__.values()), True, None)]


def test_the_worker_tells_its_reconciler_of_a_boots_end_before_queueing_the_key():
    told, queued = [], []
    reconciler = SimpleNamespace(boot_ended=lambda ref, inst: told.append((ref, inst)))
    worker = SimpleNamespace(submit=lambda ref, full: queued.append((ref, full, list(told))))
    fields = tuple(REF.__dict__.values())
    take_submit(("submit", fields, False, "inst-1"), reconciler, worker)
    take_submit(("submit", fields, True, None), reconciler, worker)
    take_submit(("submit", fields, True), reconciler, worker)  # from an older parent
    assert told == [(REF, "inst-1")]
    assert queued == [(REF, False, [(REF, "inst-1")]), (REF, True, told), (REF, True, told)]
