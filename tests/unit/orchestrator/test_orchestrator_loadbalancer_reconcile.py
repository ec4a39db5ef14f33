"""A load balancer's whole life through the reconciler, over the in-tree fakes: boot,
configure, health checks, changes, refusals, the revision rule, deletion."""

from __future__ import annotations

from tests.loadbalancer_world import (
    LB_ID,
    REF,
    VIP_PORT,
    LBWorld,
    member,
    pool,
    web,
)

from astara.orchestrator.drivers.loadbalancer import LoadBalancerDriver, LoadBalancerModel
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import Context, RouterState
from astara.orchestrator.reconcile.model import Decision, Memory, Outcome, Status, Step
from astara.orchestrator.runtime import summary
from astara.wire.appliance_status import (
    ApplianceStatus,
    ListenerHealth,
    LoadBalancerHealth,
    MemberHealth,
    PoolHealth,
)

OBJECTS = ("l-http", "l-tcp", "p-http", "p-tcp", "m-1", "m-2", "m-3", "hm-http")


def health(m2: str = "ONLINE") -> LoadBalancerHealth:
    return LoadBalancerHealth(
        id=LB_ID, operating_status="ONLINE" if m2 == "ONLINE" else "DEGRADED",
        listeners=[ListenerHealth(id="l-http", operating_status="ONLINE"),
                   ListenerHealth(id="l-tcp", operating_status="ONLINE")],
        pools=[PoolHealth(id="p-http", operating_status="ONLINE" if m2 == "ONLINE"
                          else "DEGRADED",
                          members=[MemberHealth(id="m-1", operating_status="ONLINE"),
                                   MemberHealth(id="m-2", operating_status=m2)]),
               PoolHealth(id="p-tcp", operating_status="ONLINE",
                          members=[MemberHealth(id="m-3", operating_status="NO_MONITOR")])])


def test_create_boots_ak_lb_with_the_management_and_vip_ports():
    w = LBWorld()
    w.step()
    assert w.steps() == ["CreateVM"]
    [server] = w.compute.servers.values()
    assert server.name == f"ak-lb-{LB_ID}"
    assert server.metadata == {"astara_loadbalancer_id": LB_ID}
    mgmt = w.network.mgmt_ports[LB_ID]
    assert server.ports == {mgmt["id"], VIP_PORT}
    boot = [c for c in w.compute.calls if c[0] == "boot"][0]
    assert boot[2][0] == mgmt["id"]  # the management port first, as for routers
    # Nothing is written back while the appliance boots: the objects stay PENDING_*.
    assert w.lbs.writes == []


def test_configure_pushes_the_document_and_alive_writes_active():
    w = LBWorld()
    w.step()
    w.appliances.lb_health[w.mgmt_address()] = health()
    w.converge()
    assert w.steps()[-2:] == ["ConfigureVM", "Alive"]
    pushed = w.appliances.applied[w.mgmt_address()]
    assert pushed.loadbalancer is not None and pushed.hostname == f"ak-lb-{LB_ID}"
    assert [x.id for x in pushed.loadbalancer.listeners] == ["l-http", "l-tcp"]
    [(lb_id, written)] = w.lbs.writes
    assert lb_id == LB_ID and written["revision"] == 1
    assert w.status_of(LB_ID) == {"provisioning_status": "ACTIVE",
                                  "operating_status": "ONLINE"}
    assert all(w.status_of(o)["provisioning_status"] == "ACTIVE" for o in OBJECTS)
    assert w.status_of("m-3")["operating_status"] == "NO_MONITOR"
    assert w.rec.state(REF).status == "ACTIVE"


def test_health_checks_write_again_only_when_the_result_changed():
    w = LBWorld()
    w.step()
    address = w.mgmt_address()
    w.appliances.lb_health[address] = health()
    w.converge()
    w.step(full=False)
    w.step(full=False)
    assert w.steps()[-2:] == ["Alive", "Alive"] and len(w.lbs.writes) == 1
    w.appliances.lb_health[address] = health(m2="ERROR")  # a member stops answering
    w.step(full=False)
    assert len(w.lbs.writes) == 2
    assert w.status_of("m-2")["operating_status"] == "ERROR"
    assert w.status_of("p-http")["operating_status"] == "DEGRADED"
    assert w.status_of(LB_ID)["operating_status"] == "DEGRADED"
    w.step(full=False)
    assert len(w.lbs.writes) == 2


def test_a_member_added_is_pushed_and_written_active_at_the_new_revision():
    w = LBWorld()
    w.step()
    w.appliances.lb_health[w.mgmt_address()] = health()
    w.converge()
    parts = web()
    parts["members"].append(member("m-4", "192.0.2.44"))
    parts["pools"][0] = pool("p-http", members=("m-1", "m-2", "m-4"), monitor="hm-http")
    revision = w.lbs.change(LB_ID, **parts)
    assert w.status_of(LB_ID)["provisioning_status"] == "PENDING_UPDATE"
    w.step()  # the notification's full look
    assert w.steps()[-1] == "ConfigureVM"
    pushed = w.appliances.applied[w.mgmt_address()]
    assert pushed.loadbalancer is not None
    assert [m.id for m in pushed.loadbalancer.pools[0].members] == ["m-1", "m-2", "m-4"]
    w.step(full=False)
    assert w.steps()[-1] == "Alive"
    assert w.lbs.writes[-1][1]["revision"] == revision == 2
    assert w.status_of(LB_ID)["provisioning_status"] == "ACTIVE"
    assert w.status_of("m-4")["provisioning_status"] == "ACTIVE"


def test_provisioning_is_written_only_for_the_revision_the_appliance_holds():
    """A change not yet looked at (revision 2) while a health check reports on the
    document of revision 1: the write names revision 1, so the service keeps the load
    balancer PENDING_UPDATE and takes only the operating statuses."""
    w = LBWorld()
    w.step()
    address = w.mgmt_address()
    w.appliances.lb_health[address] = health()
    w.converge()
    w.lbs.change(LB_ID, **web())  # the same objects: a name changed, say
    w.appliances.lb_health[address] = health(m2="ERROR")
    w.step(full=False)
    assert w.lbs.writes[-1][1]["revision"] == 1
    assert w.status_of(LB_ID)["provisioning_status"] == "PENDING_UPDATE"
    assert w.status_of("m-2")["operating_status"] == "ERROR"
    w.step()  # the full look: same document (nothing served changed), revision 2
    assert w.steps()[-1] == "Alive"
    assert w.lbs.writes[-1][1]["revision"] == 2
    assert w.status_of(LB_ID)["provisioning_status"] == "ACTIVE"


def test_a_push_the_appliance_refuses_is_error_at_that_revision():
    w = LBWorld()
    w.step()
    w.appliances.refuse = True
    for _ in range(6):
        w.step()
        if "ConfigureVM" in w.steps():
            break
    rec = w.rec.state(REF).steps[-1]
    assert rec.step == "ConfigureVM" and rec.outcome == "retry" and "refused" in rec.error
    [(_, written)] = w.lbs.writes
    assert written["revision"] == 1
    assert written["loadbalancer"] == {"provisioning_status": "ERROR"}
    assert w.status_of(LB_ID)["provisioning_status"] == "ERROR"
    assert all(w.status_of(o)["provisioning_status"] == "ERROR" for o in OBJECTS)
    w.appliances.refuse = False  # fixed: the retry's push is taken
    w.converge()
    assert w.status_of(LB_ID)["provisioning_status"] == "ACTIVE"


def test_a_push_that_cannot_reach_the_appliance_is_a_retry_not_an_error(monkeypatch):
    from astara.orchestrator.clients.base import RemoteError

    w = LBWorld()
    w.step()
    w.converge()
    writes = len(w.lbs.writes)
    w.lbs.change(LB_ID, members=web()["members"][:2])

    def unreachable(address, appliance_id, config):
        raise RemoteError(f"appliance {address} unreachable: connection reset")

    monkeypatch.setattr(w.appliances, "push", unreachable)
    w.step()
    rec = w.rec.state(REF).steps[-1]
    assert rec.step == "ConfigureVM" and rec.outcome == "retry"
    assert len(w.lbs.writes) == writes
    assert w.status_of(LB_ID)["provisioning_status"] == "PENDING_UPDATE"


def test_objects_the_appliance_cannot_serve_are_error_the_rest_active():
    w = LBWorld()
    parts = web()
    parts["pools"][1] = pool("p-tcp", "TCP", "SOURCE_IP_PORT", members=("m-3",))
    w.lbs.models[LB_ID].update(parts)
    w.step()
    w.converge()
    pushed = w.appliances.applied[w.mgmt_address()]
    assert pushed.loadbalancer is not None
    assert [p.id for p in pushed.loadbalancer.pools] == ["p-http"]
    assert w.status_of("p-tcp") == {"provisioning_status": "ERROR",
                                    "operating_status": "OFFLINE"}
    assert w.status_of("m-3")["provisioning_status"] == "ERROR"
    assert w.status_of("l-tcp")["provisioning_status"] == "ACTIVE"
    assert w.status_of(LB_ID)["provisioning_status"] == "ACTIVE"


def test_a_deleted_load_balancer_loses_its_appliance_and_management_port():
    w = LBWorld()
    w.step()
    w.converge()
    writes = len(w.lbs.writes)
    del w.lbs.models[LB_ID]  # deletes are immediate: the model answers 404
    seen = []
    for _ in range(6):
        st = w.rec.state(REF)
        outcome = w.step()
        seen.append(st.steps[-1].step)
        if outcome.kind == "terminal":
            break
    assert seen[0] == "StopVM" and seen[-1] == "Exit" and outcome.kind == "terminal"
    assert not w.compute.servers and LB_ID not in w.network.mgmt_ports
    assert ("delete_management_port", LB_ID) in w.network.calls
    assert len(w.lbs.writes) == writes  # nothing written about a deleted load balancer
    assert LB_ID not in w.rec.states


def test_the_vip_port_is_released_once_the_appliance_is_gone_and_until_it_goes():
    w = LBWorld()
    w.step()
    w.converge()
    w.lbs.delete(LB_ID)  # the service keeps the VIP port it made
    w.lbs.release_fails = True  # say, the network API refuses at first
    outcomes = []
    for _ in range(8):
        outcomes.append(w.step().kind)
        if ("release_vip_ports", LB_ID) in w.lbs.calls:
            break
    # Asked only at the terminal look: the appliance and its management port gone.
    assert not w.compute.servers and LB_ID not in w.network.mgmt_ports
    assert outcomes[-1] == "retry" and LB_ID in w.lbs.kept_vips
    w.lbs.release_fails = False
    assert w.step().kind == "terminal"
    assert w.lbs.released == [LB_ID] and not w.lbs.kept_vips


def test_a_restart_finds_the_deleted_load_balancers_whose_vip_port_is_kept():
    w = LBWorld()
    w.lbs.kept_vips["dead-lb"] = "p1"
    driver = LoadBalancerDriver(w.network, w.lbs)
    assert ResourceRef("loadbalancer", "dead-lb", "p1") in driver.resources()
    assert REF in driver.resources()
    w.lbs.kept_vips[LB_ID] = "p0"  # listed once, whichever list names it
    assert [r.id for r in driver.resources()].count(LB_ID) == 1


def test_boot_failures_put_the_load_balancer_in_error():
    w = LBWorld()
    w.compute.fail_boots = True
    for _ in range(40):
        w.step()
        if w.rec.state(REF).status == "ERROR":
            break
    assert w.status_of(LB_ID)["provisioning_status"] == "ERROR"
    assert w.steps()[-1] == "Exit" and w.rec.state(REF).memory.error_until is not None


def test_an_unreachable_load_balancer_api_is_a_retry_not_a_deletion():
    w = LBWorld()
    w.step()
    w.converge()
    w.lbs.down = True
    outcome = w.step()
    assert outcome.kind == "retry" and w.compute.servers


def test_the_workers_view_shows_the_kind():
    w = LBWorld()
    w.step()
    view = summary(LB_ID, w.rec.state(REF))
    assert view["kind"] == "loadbalancer" and view["instance_id"]


def _driver_state(reported_digest: str | None) -> tuple[LoadBalancerDriver, RouterState]:
    w = LBWorld()
    res = LoadBalancerDriver(w.network, w.lbs).read(LB_ID)
    assert res is not None and isinstance(res.kept, LoadBalancerModel)
    st = RouterState(tenant_id="t", kind="loadbalancer")
    st.context = Context(desired_digest="d-1", kept=res.kept)
    st.report = ApplianceStatus(config_digest=reported_digest)
    return LoadBalancerDriver(w.network, w.lbs), st


def _decision(step: Step, status: Status = Status.CONFIGURED) -> Decision:
    return Decision(step, status, Outcome("requeue", 1.0), "", Memory())


def test_active_is_written_only_when_the_appliance_reports_the_documents_digest():
    driver, st = _driver_state("d-0")  # an older document
    ref = ResourceRef("loadbalancer", LB_ID, "t")
    driver.report(ref, st, _decision(Step.CONFIGURE_VM, Status.UP))
    assert driver.lbs.writes == []
    st.report = ApplianceStatus(config_digest="d-1")
    driver.report(ref, st, _decision(Step.ALIVE))
    assert driver.lbs.writes[-1][1]["loadbalancer"]["provisioning_status"] == "ACTIVE"


def test_nothing_is_written_without_the_model_a_resumed_check_lacks():
    driver, st = _driver_state("d-1")
    st.context = Context(desired_digest="d-1")  # resumed from the store: no model
    driver.report(ResourceRef("loadbalancer", LB_ID, "t"), st, _decision(Step.ALIVE))
    assert driver.lbs.writes == []


def test_the_management_address_prefix_comes_from_its_subnet_when_known():
    w = LBWorld()
    sid = "5d4c3b2a-1f0e-4d9c-8b7a-695847362514"
    w.network.mgmt_ports[LB_ID] = {"id": "mgmt-lb", "mac_address": "fa:16:3e:ff:00:09",
                                   "fixed_ips": [{"subnet_id": sid,
                                                  "ip_address": "fdca:3ba5::9"}]}
    w.network.objects[("subnets", sid)] = {"id": sid, "cidr": "fdca:3ba5::/48"}
    w.rec.observer.full(REF, w.rec.state(REF), 0.0, False)
    desired = w.rec.state(REF).context.desired
    assert desired is not None
    assert [str(a) for a in desired.networks[0].interface.addresses] == ["fdca:3ba5::9/48"]


class _Orch:
    """What the RPC API reads from the parent: one load balancer known to it."""

    def forward_target(self, rid: str) -> None:
        return None  # a single node: every command is answered here

    def __init__(self, view: dict):
        self.view, self.submitted = view, []

    def ref_for(self, rid: str) -> ResourceRef | None:
        return REF if rid == LB_ID else None

    def submit(self, ref: ResourceRef) -> None:
        self.submitted.append(ref)

    def router_views(self) -> list[dict]:
        return [self.view]


def test_the_rpc_api_shows_and_commands_a_load_balancer():
    import asyncio

    import httpx

    from astara.orchestrator.rpc import build_app

    w = LBWorld()
    w.step()
    orch = _Orch(summary(LB_ID, w.rec.state(REF)))
    app = build_app(orch, b"t0ken")  # type: ignore[arg-type]

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://rpc",
                                     headers={"X-Auth-Token": "t0ken"}) as client:
            return [await client.get("/routers/"), await client.get(f"/routers/{LB_ID}"),
                    await client.put(f"/router/update/{LB_ID}")]

    listed, shown, updated = asyncio.run(calls())
    assert [r["kind"] for r in listed.json()["routers"]] == ["loadbalancer"]
    assert shown.json()["router"]["kind"] == "loadbalancer"
    assert updated.json() == {"router": LB_ID, "kind": "loadbalancer", "command": "update"}
    assert orch.submitted == [REF]
