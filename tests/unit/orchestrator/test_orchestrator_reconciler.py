"""The reconciler against the in-tree fakes: lifecycle, call budgets, repairs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.orchestrator_world import REF, RID, router_model, sync_mgmt

from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.memory import Context
from astara.orchestrator.reconcile.model import REPLUG_WAIT, Memory, OutcomeKind, Step
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.wire.appliance_config import ApplianceConfig


def model():
    return router_model()


class World:
    def __init__(self, **compute_kw):
        self.network = FakeNetwork(models={RID: model()})
        self.compute = FakeCompute(**compute_kw)
        self.appliances = FakeAppliances(self.compute)
        self.now = 1000.0
        self.debug = False
        self.rec = Reconciler(
            Observer(self.network, self.compute, self.appliances,
                     management_defaults()),
            Executor(self.network, self.compute, self.appliances),
            replace(plan_defaults(), boot_timeout=30, reboot_error_threshold=2,
                    error_cooldown=60, health_check_period=60),
            is_debug=lambda ref: self.debug, clock=lambda: self.now)

    def sync_mgmt(self):
        sync_mgmt(self.network, self.appliances)

    def step(self, full=True):
        out = self.rec.run(REF, full)
        self.sync_mgmt()
        self.now += max(out.after, 0.001)
        return out

    def steps(self):
        return [r.step for r in self.rec.state(REF).steps]

    def calls(self):
        return len(self.network.calls) + len(self.compute.calls) + len(self.appliances.calls)

    def reset_calls(self):
        self.network.calls.clear()
        self.compute.calls.clear()
        self.appliances.calls.clear()


def converge(w: World, limit=20):
    for _ in range(limit):
        w.step()
        if w.steps()[-1] == Step.ALIVE:
            return
    raise AssertionError(w.steps())


def test_new_router_boots_once_and_is_configured_once():
    w = World()
    converge(w)
    assert w.steps() == ["CreateVM", "CheckBoot", "ConfigureVM", "Alive"]
    boots = [c for c in w.compute.calls if c[0] == "boot"]
    assert len(boots) == 1
    assert boots[0][2][0].startswith("mgmt-")  # management port first
    pushes = [c for c in w.appliances.calls if c[0] == "push"]
    assert len(pushes) == 1  # no double push on create
    assert w.network.statuses[RID] == "ACTIVE"


def test_steps_performed_are_counted_and_failed_ones_are_not():
    w = World()
    converge(w)
    w.step(full=False)
    w.appliances.refuse = True  # the next push fails: not a push performed
    w.appliances.unhealthy.add(next(iter(w.appliances.mgmt_of)))
    w.step(full=False)
    assert w.rec.state(REF).steps[-1].error is not None
    assert w.rec.executor.performed == {"CreateVM": 1, "CheckBoot": 1, "ConfigureVM": 1,
                                        "Alive": 2}


def test_call_budgets_per_push_and_per_health_check():
    w = World()
    converge(w)
    w.reset_calls()
    out = w.step(full=False)
    assert out.kind is OutcomeKind.REQUEUE and out.after == 60
    assert w.calls() == 1  # one appliance status call
    # A change: a full pass that pushes costs at most 4 calls.
    fips = w.network.models[RID].floating_ips
    fips[0] = dict(fips[0], fixed_ip_address="10.0.0.154")
    w.reset_calls()
    w.step(full=True)
    assert w.steps()[-1] == "ConfigureVM"
    assert w.calls() <= 4, (w.network.calls, w.compute.calls, w.appliances.calls)


def test_a_health_check_hashes_no_document_and_a_change_is_still_pushed(monkeypatch):
    """The desired digest is computed once per full observation, kept, and compared."""
    w = World()
    converge(w)
    hashed = []
    real = ApplianceConfig.digest
    monkeypatch.setattr(ApplianceConfig, "digest", lambda self: hashed.append(1) or real(self))
    for _ in range(3):
        w.step(full=False)
    assert w.steps()[-3:] == ["Alive"] * 3 and hashed == []
    fips = w.network.models[RID].floating_ips
    fips[0] = dict(fips[0], fixed_ip_address="10.0.0.154")
    w.step(full=True)
    pushed = [c for c in w.appliances.calls if c[0] == "push"][-1]
    assert w.steps()[-1] == "ConfigureVM"
    assert pushed[2] == w.rec.state(REF).context.desired_digest == real(
        w.rec.state(REF).context.desired)
    w.step(full=False)
    assert w.steps()[-1] == "Alive"


def test_an_unchanged_model_is_not_built_again_and_a_changed_one_is_pushed(monkeypatch):
    """A model with the fingerprint of the last one keeps the document built from it."""
    from astara.orchestrator.drivers import router as driver

    w = World()
    converge(w)
    builds = []
    real = driver.build
    monkeypatch.setattr(driver, "build", lambda *a: builds.append(1) or real(*a))
    w.network.models[RID] = replace(w.network.models[RID], fingerprint="v1")
    w.step(full=True)
    assert len(builds) == 1  # not seen before: built
    w.step(full=True)
    w.step(full=True)
    assert len(builds) == 1 and w.steps()[-3:] == ["Alive"] * 3
    m = w.network.models[RID]
    fips = [dict(m.floating_ips[0], fixed_ip_address="10.0.0.154"), *m.floating_ips[1:]]
    w.network.models[RID] = replace(m, floating_ips=fips, fingerprint="v2")
    w.step(full=True)
    pushed = [c for c in w.appliances.calls if c[0] == "push"][-1]
    assert len(builds) == 2 and w.steps()[-1] == "ConfigureVM"
    assert pushed[2] == w.rec.state(REF).context.desired_digest
    assert "10.0.0.154" in {str(f.fixed_ip) for f in w.rec.state(REF).context.desired
                            .floating_ips}


def test_appliance_losing_its_config_is_reconfigured():
    w = World()
    converge(w)
    w.appliances.unhealthy.add(next(iter(w.appliances.mgmt_of)))
    w.step(full=False)
    assert w.steps()[-1] == "ConfigureVM"
    w.step(full=False)
    assert w.steps()[-1] == "Alive"


def test_dead_appliance_is_rebuilt():
    w = World()
    converge(w)
    [server] = w.compute.servers.values()
    server.status = "ERROR"
    for _ in range(10):
        w.step()
    assert "StopVM" in w.steps()
    assert w.steps()[-1] == "Alive"
    assert len([c for c in w.compute.calls if c[0] == "boot"]) == 2


def test_failing_boots_end_in_error_then_retry_after_cooldown():
    w = World(fail_boots=True)
    for _ in range(12):
        w.step()
        if w.steps()[-1] == "Exit":
            break
    assert w.network.statuses[RID] == "ERROR"
    st = w.rec.state(REF)
    assert st.memory.error_until is not None and st.memory.last_error == "instance in ERROR"
    assert len([c for c in w.compute.calls if c[0] == "boot"]) == 2  # the threshold
    w.now = st.memory.error_until - 1  # still cooling down: nothing is booted
    w.rec.run(REF)
    assert w.steps()[-1] == "Exit"
    assert len([c for c in w.compute.calls if c[0] == "boot"]) == 2
    w.compute.fail_boots = False
    w.now = st.memory.error_until + 1
    converge(w)
    assert "ClearError" in w.steps()
    assert w.network.statuses[RID] == "ACTIVE"



def test_a_boot_makes_the_management_port_unasked_only_when_its_look_saw_none():
    w = World(fail_boots=True)
    make_port, asked = w.network.management_port, []

    def recorded(router_id, create, absent=False):
        if create:
            asked.append(absent)
        return make_port(router_id, create, absent)

    w.network.management_port = recorded
    for _ in range(12):
        w.step()
        if len(asked) == 2:
            break
    # the first boot's look saw none; the second's saw the port the first made
    assert asked == [True, False]
    assert len(w.network.mgmt_ports) == 1


def test_deleted_router_removes_appliance_and_management_port():
    w = World()
    converge(w)
    del w.network.models[RID]
    outs = [w.step() for _ in range(4)]
    assert OutcomeKind.TERMINAL in [o.kind for o in outs]
    assert w.compute.servers == {}
    assert w.network.mgmt_ports == {}
    assert RID not in w.rec.states


def test_debug_mode_touches_nothing():
    w = World()
    w.debug = True
    w.reset_calls()
    w.step()
    assert w.calls() == 0
    assert w.steps() == ["Exit"]


def test_replug_when_an_interface_is_added():
    w = World()
    converge(w)
    new_port = {"id": "new-port", "network_id": "net-x", "device_owner":
                "network:router_interface", "mac_address": "fa:16:3e:99:99:99",
                "fixed_ips": []}
    w.network.models[RID].ports.append(new_port)
    for _ in range(4):
        w.step()
    assert "ReplugVM" in w.steps()
    assert ("attach", next(iter(w.compute.servers)), "new-port") in w.compute.calls


def add_interface(w: World, port_id: str, mac: str) -> None:
    w.network.models[RID].ports.append(
        {"id": port_id, "network_id": "net-x", "device_owner": "network:router_interface",
         "mac_address": mac, "fixed_ips": []})


def test_an_interface_added_between_the_look_and_the_boot_is_plugged_at_boot():
    w = World()
    find = w.compute.find

    def interface_added_meanwhile(who, macs):
        # the user's add-interface commits after the look read the router's model
        if not any(p["id"] == "late-port" for p in w.network.models[RID].ports):
            add_interface(w, "late-port", "fa:16:3e:99:99:98")
        return find(who, macs)

    w.compute.find = interface_added_meanwhile
    converge(w)
    boots = [c for c in w.compute.calls if c[0] == "boot"]
    assert len(boots) == 1 and "late-port" in boots[0][2]
    assert "ReplugVM" not in w.steps()
    assert not [c for c in w.compute.calls if c[0] == "attach"]


@pytest.mark.parametrize("ref, pair_group", [
    (REF, "astara-ha-r1"),                           # HA member 0: its pair's group set
    (replace(REF, id=RID + router_ha.SUFFIX), None)])  # member 1
def test_an_ha_members_boot_plugs_the_ports_of_its_look(ref, pair_group):
    # its reads make and remove HA ports: never one more read at the boot
    w = World()
    reads = []
    w.rec.executor.drivers["router"].read = lambda rid: reads.append(rid)
    ctx = Context(wanted_ports=("p1", "p2"), pair_group=pair_group)
    assert w.rec.executor._boot_ports(ref, ctx) == ("p1", "p2")
    assert reads == []


def test_an_attach_queued_on_the_host_is_asked_once_and_waited_for():
    w = World(queue_replugs=True)
    converge(w)
    add_interface(w, "new-port", "fa:16:3e:99:99:99")
    w.step()
    w.step()  # the port still shows missing: its attach is queued on the host
    assert w.steps()[-2:] == ["ReplugVM", "CheckBoot"]
    assert "waiting for 1 interface change(s)" in w.rec.state(REF).steps[-1].reason
    assert [c for c in w.compute.calls if c[0] == "attach"] == \
        [("attach", next(iter(w.compute.servers)), "new-port")]
    w.compute.finish_replugs()
    w.step()
    assert w.steps()[-1] == "ConfigureVM"
    assert w.rec.state(REF).memory.replug_asked is None  # settled: forgotten


def test_an_attach_never_done_is_asked_again_after_the_wait():
    w = World(queue_replugs=True)
    converge(w)
    add_interface(w, "new-port", "fa:16:3e:99:99:99")
    w.step()
    w.compute.queued.clear()  # lost on the host
    w.now += REPLUG_WAIT
    w.step()
    assert w.steps()[-2:] == ["ReplugVM", "ReplugVM"]
    assert len([c for c in w.compute.calls if c[0] == "attach"]) == 2


def test_ports_wanted_changing_while_an_attach_is_queued_are_replugged_at_once():
    w = World(queue_replugs=True)
    converge(w)
    for n in (1, 2):
        add_interface(w, f"new-port{n}", f"fa:16:3e:99:99:9{n}")
        w.step()
    assert w.steps()[-2:] == ["ReplugVM", "ReplugVM"]
    server = next(iter(w.compute.servers))
    assert ("attach", server, "new-port2") in w.compute.calls


def test_remote_failure_is_a_retry_not_a_crash():
    w = World()
    converge(w)
    w.appliances.refuse = True
    fips = w.network.models[RID].floating_ips
    fips[0] = dict(fips[0], fixed_ip_address="10.0.0.154")
    out = w.step()
    assert out.kind is OutcomeKind.RETRY
    assert w.rec.state(REF).steps[-1].error


@pytest.mark.parametrize("full", [True, False])
def test_unknown_router_without_appliance_is_forgotten(full):
    w = World()
    del w.network.models[RID]
    out = w.step(full=full)
    assert out.kind is OutcomeKind.TERMINAL


def test_rebuild_replaces_a_healthy_appliance_once():
    w = World()
    converge(w)
    w.rec.rebuild(REF)
    for _ in range(10):
        w.step()
    assert w.steps().count("StopVM") == 1
    assert w.steps()[-1] == "Alive"
    assert len([c for c in w.compute.calls if c[0] == "boot"]) == 2


class MemoryStore:
    def __init__(self):
        self.rows = {}

    def load(self, router_id):
        return self.rows.get(router_id)

    def save(self, router_id, tenant_id, memory, status, resume=None):
        self.rows[router_id] = (memory, status, resume)

    def forget(self, router_id):
        self.rows.pop(router_id, None)


def test_error_state_survives_a_restart():
    w = World(fail_boots=True)
    store = MemoryStore()
    w.rec.store = store
    for _ in range(12):
        w.step()
        if w.steps()[-1] == "Exit":
            break
    saved_memory, saved_status, _ = store.rows[RID]
    assert saved_status == "ERROR" and saved_memory.error_until is not None
    w.rec.states.clear()  # the orchestrator restarts
    w.now = saved_memory.error_until - 5
    boots = len([c for c in w.compute.calls if c[0] == "boot"])
    w.rec.run(REF)
    assert len([c for c in w.compute.calls if c[0] == "boot"]) == boots
    assert w.rec.state(REF).steps[-1].status == "error"


def test_memory_the_debugger_saved_is_what_the_next_pass_after_debug_mode_uses():
    """astara-debug-router saves its plan memory to the store while the router is in
    debug mode; the orchestrator's worker must not carry on with its cached copy."""
    w = World()
    store = MemoryStore()
    w.rec.store = store
    converge(w)
    w.debug = True
    w.step()
    assert "debug mode" in w.rec.state(REF).steps[-1].reason
    # The debugger's passes: the appliance failed to boot, it put the router in ERROR.
    debugged = Memory(error_until=w.now + 300, error_count=1, last_error="boot failed")
    store.save(RID, REF.tenant_id, debugged, "ERROR")
    w.step()  # still in debug mode: left alone, nothing re-read yet
    assert w.rec.state(REF).memory != debugged
    w.debug = False
    w.reset_calls()
    w.step()
    st = w.rec.state(REF)
    assert st.memory == debugged and st.status == "ERROR"
    assert st.steps[-1].status == "error"  # the cooldown the debugger started is honoured
    assert not [c for c in w.compute.calls if c[0] == "boot"]
    assert store.rows[RID][:2] == (debugged, "ERROR")  # and not overwritten by the stale copy
    assert "debug mode" in st.steps[-3].reason  # its debug exits are still there to see


def test_a_router_the_debugger_forgot_starts_from_empty_memory():
    w = World(fail_boots=True)
    store = MemoryStore()
    w.rec.store = store
    for _ in range(3):
        w.step()
    assert store.rows[RID][0].failed_boots == 1
    w.debug = True
    w.step()
    store.forget(RID)  # the debugger's pass ended it (a terminal step)
    w.debug = False
    w.step()
    memory = w.rec.state(REF).memory
    assert (memory.failed_boots, memory.last_error) == (0, None)


def test_a_retried_boot_reuses_its_request_and_extra_appliances_are_removed():
    w = World()
    w.step()  # CreateVM
    [server] = w.compute.servers.values()
    # A restarted orchestrator that lost this boot's outcome boots "again": same request.
    w.rec.states.clear()
    from astara.orchestrator.drivers.router import NAMING
    from astara.orchestrator.reconcile.execute import boot_request_id

    again = w.compute.boot(NAMING.identity(RID), ["x"], boot_request_id(RID, 1))
    assert again == server.id
    # A second appliance that slipped through anyway is removed on the next pass.
    extra = w.compute.boot(NAMING.identity(RID), ["y"], "req-other")
    converge(w)
    assert extra not in w.compute.servers or w.compute.servers[extra].deleting \
        or server.id not in w.compute.servers
    assert len([s for s in w.compute.servers.values() if not s.deleting]) == 1


@pytest.mark.parametrize("cidr,want", [("fdca::/120", "/120"), ("fdca::/64", "/64")])
def test_management_address_takes_its_subnets_prefix_length(cidr, want):
    w = World()
    w.network.models[RID].subnets["mgmt-subnet"] = {"id": "mgmt-subnet", "cidr": cidr,
                                                    "ip_version": 6}
    converge(w)
    desired = w.rec.state(REF).context.desired
    mgmt = next(n for n in desired.networks if n.network_type == "management")
    [address] = mgmt.interface.addresses
    assert str(address).endswith(want)
    assert str(address).split("/")[0] == w.rec.state(REF).context.mgmt_address


def test_management_address_of_an_ipv4_management_subnet():
    from astara.orchestrator.reconcile.observe import mgmt_interface_address
    port = {"fixed_ips": [{"ip_address": "192.0.2.70", "subnet_id": "s4"}]}
    subnets = {"s4": {"id": "s4", "cidr": "192.0.2.64/26"}}
    assert mgmt_interface_address("192.0.2.70", port, subnets, "fdca::/64") == \
        "192.0.2.70/26"
    # Without the subnet's record: the configured management prefix's length.
    assert mgmt_interface_address("fdca::9", {"fixed_ips": []}, {}, "fdca::/72") == \
        "fdca::9/72"


def test_a_hiccup_does_not_destroy_a_working_router():
    """Status calls that fail (503) while the appliance still answers: never rebuilt."""
    w = World()
    converge(w)
    address = next(iter(w.appliances.mgmt_of))
    w.appliances.hiccup.add(address)
    for _ in range(8):  # health checks fall back to full looks; time passes
        w.step(full=False)
    assert "StopVM" not in w.steps()
    assert len([c for c in w.compute.calls if c[0] == "boot"]) == 1
    assert w.network.statuses[RID] == "ACTIVE"
    assert w.rec.state(REF).memory.silent_count >= 3
    w.appliances.hiccup.clear()
    w.step(full=False)
    assert w.steps()[-1] == "Alive"
    assert w.rec.state(REF).memory.silent_count == 0


def test_an_appliance_silent_over_the_period_is_replaced_not_sooner():
    w = World()
    converge(w)
    w.appliances.mute.add(next(iter(w.appliances.mgmt_of)))
    first = w.now
    for _ in range(10):
        w.step(full=False)
        if w.steps()[-1] == "StopVM":
            break
    assert w.steps()[-1] == "StopVM"
    stop = w.rec.state(REF).steps[-1]
    assert stop.at - first >= 10  # appliance_failure_period (the default)
    assert [s.step for s in w.rec.state(REF).steps].count("CalcAction") == 2
    assert "timeout" in (w.rec.state(REF).memory.last_error or "")


def restarted(w: World, store: MemoryStore) -> Reconciler:
    """The same world seen by a new worker process: nothing in memory, the store kept."""
    w.rec = Reconciler(w.rec.observer, w.rec.executor, w.rec.settings,
                       is_debug=lambda ref: w.debug, clock=lambda: w.now, store=store)
    return w.rec


def healthy_with_store() -> tuple[World, MemoryStore]:
    w = World()
    store = MemoryStore()
    w.rec.store = store
    converge(w)
    assert store.rows[RID][2] is not None  # a healthy router's context is kept
    return w, store


def test_a_restart_health_checks_a_healthy_router_in_one_call_and_pushes_nothing():
    w, store = healthy_with_store()
    digest = w.rec.state(REF).context.desired_digest
    restarted(w, store)
    w.reset_calls()
    w.step(full=False)
    assert w.steps() == ["Alive"]
    assert w.appliances.calls == [("status", store.rows[RID][2].mgmt_address)]
    assert w.calls() == 1 and w.rec.state(REF).context.desired_digest == digest
    # The look after that reads the models again (what changed while it was down shows).
    w.step(full=False)
    assert [c[0] for c in w.network.calls] == ["router_model"]
    assert w.steps() == ["Alive", "Alive"]
    assert not [c for c in w.appliances.calls if c[0] == "push"]


def test_a_change_made_while_the_orchestrator_was_down_is_still_pushed():
    w, store = healthy_with_store()
    restarted(w, store)
    fips = w.network.models[RID].floating_ips
    fips[0] = dict(fips[0], fixed_ip_address="10.0.0.154")
    w.reset_calls()
    w.step(full=True)  # its event, replayed from the bus: a full look
    assert w.steps() == ["ConfigureVM"]
    assert [c[0] for c in w.appliances.calls] == ["status", "push"]
    w.step(full=False)
    assert w.steps()[-1] == "Alive"


def test_a_resumed_router_whose_appliance_differs_is_looked_at_and_repaired():
    w, store = healthy_with_store()
    fips = w.network.models[RID].floating_ips
    fips[0] = dict(fips[0], fixed_ip_address="10.0.0.154")
    w.step(full=True)  # pushed, and the appliance applied it ...
    address = store.rows[RID][2].mgmt_address
    old_digest = w.appliances.applied_digest[address]
    store.rows[RID] = (*store.rows[RID][:2], store.rows[RID][2]._replace(
        desired_digest="0" * 64))  # ... but the store remembers another document
    restarted(w, store)
    w.reset_calls()
    w.step(full=False)
    assert [c[0] for c in w.network.calls] == ["router_model"]  # it differed: full look
    assert w.steps() == ["Alive"]  # the appliance has what the model says: no push
    assert w.appliances.applied_digest[address] == old_digest
    assert store.rows[RID][2].desired_digest == old_digest  # the store is put right


def test_an_unhealthy_router_is_not_resumed():
    w, store = healthy_with_store()
    w.appliances.mute.add(next(iter(w.appliances.mgmt_of)))
    w.step(full=False)
    assert w.steps()[-1] == "CalcAction" and store.rows[RID][2] is None
    restarted(w, store)
    w.reset_calls()
    w.step(full=False)
    assert w.network.calls[0][0] == "router_model"
