"""An ``ha=True`` router's pair against the in-tree fakes, and the pair's pure decisions."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.orchestrator_world import REF, RID, router_model, sync_mgmt

from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.drivers.router_ha import MemberView
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.orchestrator.runtime import summary

MID = router_ha.member_id(RID)


class World:
    def __init__(self, ha=True, hosts=("host-1", "host-2")):
        model = router_model()
        model.router["ha"] = ha
        self.network = FakeNetwork(models={RID: model})
        self.compute = FakeCompute(hosts=hosts)
        self.appliances = FakeAppliances(self.compute)
        self.now = 1000.0
        self.rec = Reconciler(
            Observer(self.network, self.compute, self.appliances, management_defaults()),
            Executor(self.network, self.compute, self.appliances),
            replace(plan_defaults(), boot_timeout=30, health_check_period=60),
            clock=lambda: self.now)

    def step(self):
        out = self.rec.run(REF)
        sync_mgmt(self.network, self.appliances)
        for rid, port in self.network.mgmt_ports.items():  # member 1's answers too
            self.appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = rid
        self.now += max(out.after, 0.001)
        return out

    def converge(self, limit=30):
        for _ in range(limit):
            self.step()
            pair = self.rec.states[RID].pair
            if pair and pair["state"] == "ACTIVE":
                return pair
        raise AssertionError(self.rec.states[RID].pair)

    def docs(self):
        m0 = self.network.mgmt_ports[RID]["fixed_ips"][0]["ip_address"]
        m1 = self.network.mgmt_ports[MID]["fixed_ips"][0]["ip_address"]
        return self.appliances.applied[m0], self.appliances.applied[m1], m0, m1

    def servers(self):
        return {s.router_id: s for s in self.compute.servers.values() if not s.deleting}


def test_ha_router_boots_a_pair_on_two_hosts_and_configures_both():
    w = World()
    pair = w.converge()
    servers = w.servers()
    assert set(servers) == {RID, MID}
    assert servers[RID].host != servers[MID].host
    # both in the pair's group from the first boot: the group keeps them apart
    group = w.compute.group_ids[router_ha.group_name(RID)]
    assert ("group", RID, group) in w.compute.calls and ("group", MID, group) in w.compute.calls
    d0, d1, m0, m1 = w.docs()
    assert d0.ha.enabled and d1.ha.enabled
    assert [str(p) for p in d0.ha.peers] == [m1] and [str(p) for p in d1.ha.peers] == [m0]
    assert (d0.ha.priority, d1.ha.priority) == (110, 100)
    assert d0.ha.virtual_router_id == d1.ha.virtual_router_id == router_ha.virtual_router_id(RID)
    # the same router addresses, each member its own MAC on every data network
    data0 = {n.network_id: n.interface for n in d0.networks if n.network_type != "management"}
    data1 = {n.network_id: n.interface for n in d1.networks if n.network_type != "management"}
    assert set(data0) == set(data1)
    for net in data0:
        assert data0[net].addresses == data1[net].addresses
        assert data0[net].mac_address != data1[net].mac_address
    ha_ports = {p["network_id"] for p in w.network.ports.values() if p["device_id"] == MID}
    assert ha_ports == set(data0)
    assert pair["warning"] is None and w.network.statuses[RID] == "ACTIVE"
    # what astara-ctl router show prints: both appliances, their roles and sync (as
    # their status answered at the pass after the push)
    w.step()
    shown = summary(RID, w.rec.states[RID])["ha"]
    assert [m["instance_id"] for m in shown["members"]] == [servers[RID].id, servers[MID].id]
    assert [m["management_address"] for m in shown["members"]] == [m0, m1]
    assert [m["sync"] for m in shown["members"]] == ["running", "running"]


def test_a_refused_push_shows_its_reason_in_the_pair():
    w = World()
    w.converge()
    w.appliances.refuse = True
    w.network.models[RID] = replace(w.network.models[RID], fingerprint=None)
    w.network.models[RID].router["routes"] = [{"destination": "10.9.0.0/16",
                                               "nexthop": "172.24.4.1"}]
    w.step()
    pair = w.rec.states[RID].pair
    assert pair["state"] == "DOWN"  # both refused the new document
    assert ["refused" in m["last_error"] for m in pair["members"]] == [True, True]


def test_one_host_both_members_there_with_a_warning():
    w = World(hosts=("only",))
    pair = w.converge()
    assert {s.host for s in w.servers().values()} == {"only"}
    assert "one compute host" in pair["warning"]


def test_lost_member_is_replaced_and_the_pair_degraded_meanwhile():
    w = World()
    w.converge()
    lost = w.servers()[MID]
    lost.status = "ERROR"
    states = []
    for _ in range(30):
        w.step()
        states.append(w.rec.states[RID].pair["state"])
        if states[-1] == "ACTIVE" and w.servers()[MID].id != lost.id:
            break
    assert "DEGRADED" in states and states[-1] == "ACTIVE"
    assert w.network.statuses[RID] == "ACTIVE"  # one member forwarded all along
    assert RID in w.servers()


def test_a_replaced_member_0_keeps_away_from_member_1():
    w = World()
    w.converge()
    lost, peer = w.servers()[RID], w.servers()[MID]
    lost.status = "ERROR"
    for _ in range(30):
        w.step()
        if w.servers().get(RID) and w.servers()[RID].id != lost.id:
            break
    new = w.servers()[RID]
    # member 1 is in the pair's group: the group hint alone keeps them apart
    group = w.compute.group_ids[router_ha.group_name(RID)]
    assert ("group", RID, group) in w.compute.calls
    assert ("different_host", RID, (peer.id,)) not in w.compute.calls
    assert new.host != peer.host


def test_member_1_joins_the_pairs_soft_anti_affinity_group_made_in_the_service_project():
    w = World()
    w.converge()
    servers = w.servers()
    name = router_ha.group_name(RID)
    assert ("server_group", name, True) in w.compute.calls
    # HA from its creation: member 0 boots into the group too, so member 1 needs only
    # the group's hint
    assert sorted(w.compute.groups[name]) == sorted([servers[RID].id, servers[MID].id])
    assert ("group", RID, w.compute.group_ids[name]) in w.compute.calls
    assert not [c for c in w.compute.calls if c[0] == "different_host"]
    # HA off: member 1 goes, and the group with it
    w.network.models[RID].router["ha"] = False
    w.network.models[RID] = replace(w.network.models[RID], fingerprint=None)
    for _ in range(10):
        w.step()
    assert set(w.servers()) == {RID} and name not in w.compute.groups
    assert ("delete_server_group", name) in w.compute.calls


def test_without_server_groups_the_members_are_kept_apart_by_different_host():
    w = World()
    w.compute.has_groups = False
    w.converge()
    servers = w.servers()
    assert servers[RID].host != servers[MID].host
    assert not [c for c in w.compute.calls if c[0] == "group"]


@pytest.mark.parametrize("group, other, expected", [
    (None, ("i0",), (None, ("i0",))),  # no groups: different_host as before
    (("g", ("i0",)), ("i0",), ("g", ())),  # the other member is in the group
    (("g", ()), ("i0",), ("g", ("i0",))),  # booted before HA: named too
    (("g", ()), (), ("g", ())),  # the first member of the pair
])
def test_boot_hints(group, other, expected):
    assert router_ha.boot_hints(group, other) == expected


def test_split_brain_restarts_the_member_that_was_not_master():
    w = World()
    w.converge()
    _, _, m0, m1 = w.docs()
    w.appliances.roles.update({m0: "backup", m1: "master"})
    w.step()
    assert w.rec.states[RID].pair["master"] == 1
    first, second = w.servers()[RID].id, w.servers()[MID].id
    w.appliances.roles[m0] = "master"
    w.step()
    assert w.rec.states[RID].pair["split_brain"] is True
    assert not w.rec.states[RID].force_rebuild  # once may be a takeover between calls
    w.step()  # seen again: member 0 (not the last sole master) is rebuilt
    w.step()
    assert w.compute.servers[first].deleting or first not in w.compute.servers
    assert MID in w.servers() and w.servers()[MID].id == second


def test_ha_off_goes_back_to_one_appliance_with_its_addresses():
    w = World()
    w.converge()
    d0, _, _, _ = w.docs()
    w.network.models[RID].router["ha"] = False
    w.network.models[RID] = replace(w.network.models[RID], fingerprint=None)
    for _ in range(10):
        w.step()
    assert set(w.servers()) == {RID}
    assert MID not in w.rec.states
    assert not [p for p in w.network.ports.values() if p["device_id"] == MID]
    m0 = w.network.mgmt_ports[RID]["fixed_ips"][0]["ip_address"]
    single = w.appliances.applied[m0]
    assert not single.ha.enabled
    assert [n.interface for n in single.networks] == [n.interface for n in d0.networks]
    assert w.network.statuses[RID] == "ACTIVE"


def test_an_interface_removed_takes_member_1s_port_on_it():
    w = World()
    w.converge()
    model = w.network.models[RID]
    internal = next(p for p in model.ports if p["device_owner"] == "network:router_interface")
    model.ports[:] = [p for p in model.ports if p["id"] != internal["id"]]
    w.network.models[RID] = replace(model, fingerprint=None)
    for _ in range(6):
        w.step()
    left = {p["network_id"] for p in w.network.ports.values() if p["device_id"] == MID}
    assert internal["network_id"] not in left and left
    _, d1, _, _ = w.docs()
    assert internal["network_id"] not in {n.network_id for n in d1.networks}
    assert w.rec.states[RID].pair["state"] == "ACTIVE"


def test_single_router_path_unchanged():
    w = World(ha=False)
    for _ in range(6):
        w.step()
    assert set(w.servers()) == {RID} and w.rec.states[RID].pair is None
    assert not [c for c in w.network.calls if c[0] in ("ha_ports", "create_ha_port")]


@pytest.mark.parametrize("a, b, state", [
    (MemberView(True, True), MemberView(True, True), "ACTIVE"),
    (MemberView(True, True), MemberView(False, False), "DEGRADED"),
    (MemberView(True, False), MemberView(True, True), "DEGRADED"),
    (MemberView(True, False), MemberView(True, False), "DOWN"),
])
def test_pair_view(a, b, state):
    assert router_ha.pair_view((a, b))[0] == state


@pytest.mark.parametrize("roles, last, victim", [
    (("master", "backup"), None, None),
    (("backup", "backup"), 0, None),
    (("master", "master"), None, 1),  # no record: the lower priority one
    (("master", "master"), 0, 1),
    (("master", "master"), 1, 0),  # not the one that held the addresses
])
def test_split_brain_victim(roles, last, victim):
    assert router_ha.split_brain_victim(roles, last) == victim


def test_member_keys():
    assert router_ha.split(MID) == (RID, 1) and router_ha.split(RID) == (RID, 0)
    assert 1 <= router_ha.virtual_router_id(RID) <= 255


def test_a_released_ha_router_leaves_no_state_of_its_member_1():
    """The ring gave the router away: member 1's state machine (its lease is the
    router's) goes with it, else its old look would come back with the router."""
    w = World()
    w.converge()
    assert MID in w.rec.states
    w.rec.release(REF)
    assert RID not in w.rec.states and MID not in w.rec.states
