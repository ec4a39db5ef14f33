"""A load balancer's failover and statistics through the reconciler, over the in-tree
fakes: the failover count in the model replaces an appliance booted for less (also after
an orchestrator restart), and the status report carries haproxy's counters."""

from __future__ import annotations

from dataclasses import replace

from tests.loadbalancer_world import LB_ID, REF, VIP_PORT, LBWorld

from astara.orchestrator.drivers.loadbalancer import NAMING
from astara.orchestrator.opts import plan_defaults
from astara.orchestrator.reconcile.model import (
    Appliance,
    ApplianceIdentity,
    Instance,
    Memory,
    Observed,
    Rebuild,
    Status,
    Step,
)
from astara.orchestrator.reconcile.plan import plan
from astara.wire.appliance_status import (
    ListenerHealth,
    LoadBalancerHealth,
    ProxyCounters,
)


def health(bytes_in: int = 0, epoch: str | None = "41@1000") -> LoadBalancerHealth:
    return LoadBalancerHealth(
        id=LB_ID, operating_status="ONLINE", stats_epoch=epoch,
        listeners=[ListenerHealth(id="l-http", operating_status="ONLINE",
                                  counters=ProxyCounters(bytes_in=bytes_in, bytes_out=7,
                                                         active_connections=1,
                                                         total_connections=3,
                                                         request_errors=0)),
                   ListenerHealth(id="l-tcp", operating_status="ONLINE")])


def _serving(w: LBWorld) -> str:
    """Boot and converge; the serving instance's id."""
    w.step()
    w.appliances.lb_health[w.mgmt_address()] = health()
    w.converge()
    assert w.steps()[-1] == "Alive"
    return w.rec.state(REF).context.instance_id


def _failover(w: LBWorld) -> None:
    """What ``PUT .../failover`` does to the model: the count and the revision go up."""
    w.lbs.models[LB_ID]["failover_count"] = w.lbs.models[LB_ID].get("failover_count", 0) + 1
    w.lbs.change(LB_ID)


def test_identity_records_the_generation_only_once_there_is_one():
    assert NAMING.identity(LB_ID).metadata == {"astara_loadbalancer_id": LB_ID}
    assert NAMING.identity(LB_ID, 3).metadata == {"astara_loadbalancer_id": LB_ID,
                                                  "astara_failover_count": "3"}
    who = NAMING.identity(LB_ID)
    assert who.generation_of({"astara_failover_count": "3"}) == 3
    assert [who.generation_of(m) for m in ({}, {"astara_failover_count": "x"},
                                           {"astara_failover_count": "-1"})] == [0, 0, 0]
    router = ApplianceIdentity("r", "ak-r", "astara_router_id")
    assert router.metadata == {"astara_router_id": "r"}
    assert router.generation_of({"astara_failover_count": "3"}) == 0


def test_plan_replaces_an_outdated_appliance_as_an_operators_rebuild():
    o = Observed(exists=True, desired_digest="d", wanted_ports=frozenset({"p"}),
                 instance=Instance("i", "ACTIVE", frozenset({"p"})),
                 appliance=Appliance(True, "d"), outdated=True, now=10.0)
    d = plan(o, plan_defaults())
    assert (d.step, d.status, d.rebuild) == (Step.STOP_VM, Status.RESTART, Rebuild.OPERATOR)
    # an error cooldown is not cut short by it (no boot loop while boots fail)
    cooling = replace(o, instance=None, memory=Memory(error_until=50.0, failed_boots=3))
    assert plan(cooling, plan_defaults()).step is Step.EXIT
    # nothing live: the old one is already going; the normal path boots the new one
    going = replace(o, instance=Instance("i", "ACTIVE", deleting=True))
    assert plan(going, plan_defaults()).step is Step.CHECK_BOOT
    assert plan(replace(o, outdated=False), plan_defaults()).step is Step.ALIVE


def test_a_failover_boots_a_new_appliance_on_the_same_vip_port_then_active():
    w = LBWorld()
    old = _serving(w)
    _failover(w)
    w.step()
    assert w.steps()[-1] == "StopVM"
    w.converge()
    new = w.rec.state(REF).context.instance_id
    assert new != old and old not in w.compute.servers
    server = w.compute.servers[new]
    assert server.metadata == {"astara_loadbalancer_id": LB_ID, "astara_failover_count": "1"}
    assert VIP_PORT in server.ports
    assert "CreateVM" in w.steps() and w.steps()[-1] == "Alive"
    assert w.lbs.writes[-1][1]["revision"] == w.lbs.models[LB_ID]["revision"]
    assert w.status_of(LB_ID)["provisioning_status"] == "ACTIVE"
    # converged: looking again replaces nothing
    w.step()
    assert w.steps()[-1] == "Alive" and w.rec.state(REF).context.instance_id == new


def test_a_restarted_orchestrator_still_replaces_an_appliance_of_an_older_failover():
    w = LBWorld()
    old = _serving(w)
    _failover(w)
    w.rec.states.clear()  # a restart: nothing remembered but what the APIs hold
    w.step()
    assert w.steps()[-1] == "StopVM"
    w.converge()
    assert w.rec.state(REF).context.instance_id != old
    boots = [c for c in w.compute.calls if c[0] == "boot"]
    w.rec.states.clear()  # again: the new appliance is the one wanted, it stays
    w.converge()
    assert [c for c in w.compute.calls if c[0] == "boot"] == boots


def test_the_status_report_carries_each_listeners_counters_and_their_epoch():
    w = LBWorld()
    instance = _serving(w)
    body = w.lbs.writes[-1][1]
    assert body["stats_epoch"] == f"{instance}/41@1000"
    stats = {x["id"]: x.get("stats") for x in body["listeners"]}
    assert stats["l-http"] == {"bytes_in": 0, "bytes_out": 7, "active_connections": 1,
                               "total_connections": 3, "request_errors": 0}
    assert stats["l-tcp"] == {"bytes_in": 0, "bytes_out": 0, "active_connections": 0,
                              "total_connections": 0, "request_errors": 0}
    # traffic: the next health check writes the new counters (and only then)
    writes = len(w.lbs.writes)
    w.step(full=False)
    assert len(w.lbs.writes) == writes
    w.appliances.lb_health[w.mgmt_address()] = health(bytes_in=500)
    w.step(full=False)
    assert len(w.lbs.writes) == writes + 1
    assert w.lbs.writes[-1][1]["listeners"][0]["stats"]["bytes_in"] == 500


def test_no_counters_without_the_appliances_view_of_this_load_balancer():
    w = LBWorld()
    w.step()
    w.appliances.lb_health[w.mgmt_address()] = LoadBalancerHealth(
        id="another", operating_status="ONLINE",
        listeners=[ListenerHealth(id="l-http", operating_status="ONLINE")])
    w.converge()
    body = w.lbs.writes[-1][1]
    assert "stats_epoch" not in body
    assert all("stats" not in x for x in body["listeners"])
