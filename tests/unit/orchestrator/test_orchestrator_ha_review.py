"""An HA pair's failure paths found in review: split-brain judgement on fresh reports,
rebuild limits, member 1 after a restart, in a cluster and in notifications."""

from __future__ import annotations

from dataclasses import replace

from test_orchestrator_ha_pair import MID, World
from tests.orchestrator_world import REF, RID, sync_mgmt

from astara.orchestrator.drivers import router_ha
from astara.orchestrator.reconcile.breaker import Verdict, hold
from astara.orchestrator.reconcile.model import Rebuild
from astara.orchestrator.reconcile.reconciler import SPLIT_BRAIN_REBUILDS


def step(w: World, full: bool = True):
    out = w.rec.run(REF, full)
    sync_mgmt(w.network, w.appliances)
    for rid, port in w.network.mgmt_ports.items():
        w.appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = rid
    w.now += max(out.after, 0.001)
    return out


def _pair(w: World):
    w.converge()
    _, _, m0, m1 = w.docs()
    w.appliances.roles.update({m0: "master", m1: "backup"})
    step(w)
    return m0, m1


def test_split_brain_is_repaired_on_health_passes_too():
    w = World()
    _, m1 = _pair(w)
    second = w.servers()[MID].id
    w.appliances.roles[m1] = "master"
    for _ in range(10):
        step(w, False)
    assert w.servers()[MID].id != second


def test_a_lost_member_0s_old_master_report_does_not_rebuild_the_survivor():
    w = World()
    _pair(w)
    survivor = w.servers()[MID].id
    w.servers()[RID].status = "ERROR"
    _, _, _, m1 = w.docs()
    w.appliances.roles[m1] = "master"  # member 1 takes over, as VRRP does
    for _ in range(8):
        step(w)
        assert survivor in {s.id for s in w.servers().values()}


def test_an_operator_rebuild_of_the_master_leaves_the_survivor_alone():
    w = World()
    m0, m1 = _pair(w)
    survivor = w.servers()[MID].id
    w.rec.rebuild(REF)
    step(w)  # member 0 stopped
    w.appliances.mute.add(m0)
    w.appliances.roles[m1] = "master"
    for _ in range(8):
        step(w)
        assert survivor in {s.id for s in w.servers().values()}


def test_a_booting_replacement_is_not_killed_as_a_split_brain_victim():
    w = World()
    _, m1 = _pair(w)
    w.appliances.roles[m1] = "master"
    step(w)
    step(w)
    old = w.servers()[MID].id
    for _ in range(40):
        step(w)
        if old not in {s.id for s in w.servers().values()}:
            w.appliances.roles[m1] = "backup"  # any new member 1 answers backup
    boots = [c for c in w.compute.calls if c[0] == "boot" and c[1] == MID]
    assert len(boots) <= 2


def test_member_1_is_fenced_by_its_routers_lease():
    w = World()
    w.rec.executor.fence = lambda ref: None if ref.id == RID else "no lease"
    for _ in range(30):
        step(w)
    assert MID in w.servers()


def test_member_1_is_left_alone_while_its_router_is_in_debug_mode():
    w = World()
    w.converge()
    before = len(w.compute.calls)
    w.rec.is_debug = lambda ref: ref.id == RID
    w.servers()[MID].status = "ERROR"
    for _ in range(5):
        step(w)
    assert w.compute.calls[before:] == []
    assert w.rec.states[MID].steps[-1].reason == "debug mode: left alone"


def test_member_1_booting_at_a_restart_gets_the_boot_timeout():
    w = World()
    for _ in range(20):
        step(w)
        if MID in w.servers():
            break
    sid = w.servers()[MID].id
    m1 = w.network.mgmt_ports[MID]["fixed_ips"][0]["ip_address"]
    w.appliances.mute.add(m1)
    w.rec.states.pop(MID)  # what a restart does to member 1 (it is not stored)
    t0 = w.now
    while sid in {s.id for s in w.servers().values()}:
        step(w)
        assert w.now - t0 < 100
    assert w.now - t0 >= 30  # the World's boot timeout


def test_split_brain_rebuilds_are_automatic_and_stop_in_error_if_it_never_heals():
    w = World()
    kinds = []

    def gate(observed, decision, charge):
        kinds.append(decision.rebuild)
        return decision

    w.rec.gate = gate
    _, m1 = _pair(w)
    w.appliances.roles[m1] = "master"  # VRRP blocked: every member 1 answers master
    before = len([c for c in w.compute.calls if c[0] == "boot" and c[1] == MID])
    for _ in range(150):
        step(w)
    boots = len([c for c in w.compute.calls if c[0] == "boot" and c[1] == MID]) - before
    pair = w.rec.states[RID].pair
    assert boots == SPLIT_BRAIN_REBUILDS
    assert set(kinds) == {Rebuild.SPLIT_BRAIN}
    assert pair["state"] == "ERROR" and "cannot hear each other" in pair["error"]
    assert w.network.statuses[RID] == "ERROR"
    writes = [c for c in w.network.calls if c[0] == "set_router_status"]
    for _ in range(5):
        step(w)  # and it stays there (no flapping writes)
    assert [c for c in w.network.calls if c[0] == "set_router_status"] == writes
    # an operator's rebuild starts the count again
    w.rec.rebuild(REF)
    assert w.rec.states[RID].pair["split_brain_rebuilds"] == 0


def test_a_held_split_brain_rebuild_is_counted_once():
    w = World()
    w.rec.gate = lambda observed, decision, charge: hold(decision, Verdict.OVER_BUDGET,
                                                         observed.memory, 5.0, "test")
    _, m1 = _pair(w)
    w.appliances.roles[m1] = "master"
    second = w.servers()[MID].id
    for _ in range(20):
        step(w)
    assert w.servers()[MID].id == second
    assert w.rec.states[RID].pair["split_brain_rebuilds"] == 1


def _restarted(w: World, store_status: str = "ACTIVE"):
    """The reconciler after a restart: member 0 resumed from the store (its context
    without the pair), member 1 (never stored) not in memory."""
    st0 = w.rec.states.pop(RID)
    w.rec.states.pop(MID)
    saved = (st0.memory, store_status, None)
    w.rec.preload({RID: saved})


def test_a_router_deleted_before_the_first_look_after_a_restart_takes_member_1():
    w = World()
    w.converge()
    _restarted(w)
    del w.network.models[RID]
    for _ in range(10):
        step(w)
    assert MID not in w.servers()
    assert MID not in w.network.mgmt_ports
    assert not [p for p in w.network.ports.values() if p["device_id"] == MID]


def test_ha_off_before_the_first_look_after_a_restart_takes_member_1():
    w = World()
    w.converge()
    _restarted(w)
    w.network.models[RID].router["ha"] = False
    w.network.models[RID] = replace(w.network.models[RID], fingerprint=None)
    for _ in range(10):
        step(w)
    assert set(w.servers()) == {RID}
    assert not [p for p in w.network.ports.values() if p["device_id"] == MID]


def test_a_single_router_resumed_looks_for_member_1_once():
    w = World(ha=False)
    for _ in range(6):
        step(w)
    st0 = w.rec.states.pop(RID)
    w.rec.preload({RID: (st0.memory, "ACTIVE", None)})
    looks = []
    find = w.compute.find
    w.compute.find = lambda who, macs: looks.append(who.resource_id) or find(who, macs)
    for _ in range(6):
        step(w)
    assert looks.count(MID) == 1
    assert set(w.servers()) == {RID} and MID not in w.rec.states


def test_leftover_members_decision():
    found = ["r1.ha1", "r1.ha1", "r2.ha1", "r3", "r4.ha1", "lb1"]
    gone, look = router_ha.leftover_members(found, listed={"r1", "r3", "r4"}, mine={"r1", "r3"})
    assert gone == {"r2.ha1"}  # its router is gone: nobody's pass will look
    assert look == {"r1"}  # r4's is another worker's; r3 has no member 1
    assert router_ha.leftover_members([], {"r1"}, {"r1"}) == (set(), set())


def test_a_router_the_store_held_nothing_for_has_its_member_1_removed_after_a_restart():
    w = World()
    w.converge()
    w.rec.states.pop(RID)  # a restart, with nothing stored for the router
    w.rec.states.pop(MID)
    w.network.models[RID].router["ha"] = False
    w.network.models[RID] = replace(w.network.models[RID], fingerprint=None)
    w.rec.sweep_member1([REF], remove_gone=False)
    for _ in range(10):
        step(w)
    assert set(w.servers()) == {RID}
    assert MID not in w.network.mgmt_ports
    assert not [p for p in w.network.ports.values() if p["device_id"] == MID]


def test_a_member_1_whose_router_is_gone_is_removed_by_the_sweep():
    w = World()
    w.converge()
    w.rec.states.clear()
    del w.network.models[RID]
    w.rec.sweep_member1([], remove_gone=False)  # another worker's to remove
    assert MID in w.servers()
    w.rec.sweep_member1([], remove_gone=True)
    assert MID not in w.servers() and MID not in w.network.mgmt_ports
    assert not [p for p in w.network.ports.values() if p["device_id"] == MID]
    assert RID in w.servers()  # member 0 is the router's own: not this sweep's
    assert router_ha.group_name(RID) not in w.compute.groups


def test_the_sweep_leaves_an_ha_routers_member_1():
    w = World()
    w.converge()
    member_1 = w.servers()[MID].id
    w.rec.states.clear()
    w.rec.sweep_member1([REF], remove_gone=True)
    for _ in range(6):
        step(w)
    assert w.servers()[MID].id == member_1
    assert ("delete", member_1) not in w.compute.calls


def test_a_router_missing_from_a_short_list_keeps_its_member_1():
    w = World()
    w.converge()
    member_1 = w.servers()[MID].id
    w.rec.states.clear()
    w.network.unlisted.add(RID)  # a page limit, or any truncated answer
    w.rec.sweep_member1([], remove_gone=True)
    assert ("router_project", RID) in w.network.calls  # asked about it alone: it is there
    assert ("delete", member_1) not in w.compute.calls and MID in w.network.mgmt_ports


def test_the_sweep_without_the_router_driver_does_nothing():
    w = World()
    w.converge()
    w.rec.observer.drivers.pop("router")
    assert w.rec.find_member1([]) == {}
