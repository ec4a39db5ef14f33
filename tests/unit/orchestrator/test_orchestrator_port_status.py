"""Tenant instance ports go ACTIVE once their router's appliance is configured.

The pure choice (``drivers.port_status.to_activate``) and the reconciler against the
in-tree fakes: after a push the DOWN instance ports are set ACTIVE once, a healthy
router costs no call for them, a failed push marks nothing.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from tests.orchestrator_world import REF, RID, load, router_model, sync_mgmt

from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.drivers import port_status
from astara.orchestrator.drivers import router as driver
from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.model import OutcomeKind, Step
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler

INTERNAL_NET = "44085f07-c533-48f8-b5ea-29fef1efacd0"
INTERNAL_SUBNET = "fdbbda01-7059-4fe0-98ff-fe21341f43c1"
EXTERNAL_NET = "6b455a89-fa2d-4333-86d3-4d402a4ddb38"


def vm_port(n: int, **fields) -> dict:
    """An instance's port on the router's internal network, bound, DOWN."""
    base = load("port_vm.json")["port"]
    return {**base, "id": f"port-{n}", "mac_address": f"fa:16:3e:00:01:{n:02x}",
            "device_id": f"server-{n}", "binding:host_id": "host-a",
            "fixed_ips": [{"ip_address": f"10.0.0.{100 + n}", "subnet_id": INTERNAL_SUBNET}],
            **fields}


def model(*tenant_ports: dict) -> RouterModel:
    return router_model(list(tenant_ports))


# -- the pure choice -------------------------------------------------------------------

def test_a_bound_down_instance_port_the_router_leases_to_is_chosen():
    assert port_status.to_activate(model(vm_port(1), vm_port(2, status="BUILD"))) == (
        "port-1", "port-2")


def test_ports_not_to_mark():
    ports = [
        vm_port(1, status="ACTIVE"),  # already
        vm_port(2, **{"binding:host_id": ""}),  # not bound to a host yet
        vm_port(3, device_id=""),  # no instance
        vm_port(4, device_owner="network:dhcp"),  # not an instance's
        vm_port(5, device_owner=""),
        vm_port(6, admin_state_up=False),  # administratively down stays DOWN
        # on a subnet the router has no interface on: it gets no lease from this router
        vm_port(7, fixed_ips=[{"ip_address": "10.9.0.7", "subnet_id": "other-subnet"}]),
        vm_port(8, network_id=EXTERNAL_NET),  # not an internal network of the router
    ]
    ports.append({k: v for k, v in vm_port(9).items() if k != "binding:host_id"})
    assert port_status.to_activate(model(*ports)) == ()


def test_every_chosen_port_has_a_lease_in_the_document():
    m = model(vm_port(1), vm_port(2), vm_port(3, status="ACTIVE"),
              vm_port(4, fixed_ips=[{"ip_address": "10.9.0.7", "subnet_id": "x"}]))
    mgmt = driver.Management("fa:16:3e:ff:00:01", ("fdca::1/64",), "fdca::1", 9697)
    doc = driver.build(m, mgmt).model_dump()
    leased = {a["mac_address"] for n in doc["networks"] for a in n.get("allocations", [])}
    by_id = {p["id"]: p["mac_address"] for p in m.tenant_ports}
    chosen = port_status.to_activate(m)
    assert chosen == ("port-1", "port-2")
    assert {by_id[p] for p in chosen} <= leased
    assert by_id["port-4"] not in leased


# -- the reconciler ------------------------------------------------------------------

class World:
    def __init__(self, *tenant_ports: dict):
        self.network = FakeNetwork(models={RID: model(*copy.deepcopy(list(tenant_ports)))})
        self.compute = FakeCompute()
        self.appliances = FakeAppliances(self.compute)
        self.now = 1000.0
        self.rec = Reconciler(
            Observer(self.network, self.compute, self.appliances, management_defaults()),
            Executor(self.network, self.compute, self.appliances),
            replace(plan_defaults(), boot_timeout=30, health_check_period=60),
            clock=lambda: self.now)

    def step(self, full=True):
        out = self.rec.run(REF, full)
        sync_mgmt(self.network, self.appliances)
        self.now += max(out.after, 0.001)
        return out

    def converge(self):
        for _ in range(20):
            self.step()
            if self.rec.state(REF).steps[-1].step == Step.ALIVE:
                return
        raise AssertionError([r.step for r in self.rec.state(REF).steps])

    def marked(self) -> list[str]:
        return [c[1] for c in self.network.calls if c[0] == "set_port_status"]

    def status(self, port_id: str) -> str:
        return next(p["status"] for p in self.network.models[RID].tenant_ports
                    if p["id"] == port_id)


def test_after_the_push_the_down_instance_ports_are_set_active_once():
    w = World(vm_port(1), vm_port(2, status="ACTIVE"), vm_port(3, **{"binding:host_id": ""}))
    pushed_before = []
    real = w.network.set_port_status
    w.network.set_port_status = lambda port, status: (  # type: ignore[method-assign]
        pushed_before.append(bool(w.appliances.applied)), real(port, status))
    w.converge()
    steps = [r.step for r in w.rec.state(REF).steps]
    assert steps == ["CreateVM", "CheckBoot", "ConfigureVM", "Alive"]
    assert ("set_port_status", "port-1", "ACTIVE") in w.network.calls
    assert w.marked() == ["port-1"]
    assert pushed_before == [True]  # once the appliance took the document, not before
    assert w.status("port-1") == "ACTIVE" and w.status("port-3") == "DOWN"
    # More looks, full or not, mark nothing again.
    for full in (False, True, False, True):
        w.step(full)
    assert w.marked() == ["port-1"]


def test_a_healthy_router_costs_no_port_call():
    w = World(vm_port(1))
    w.converge()
    w.network.calls.clear()
    for _ in range(3):
        assert w.step(full=False).kind is OutcomeKind.REQUEUE
    w.step(full=True)
    assert w.marked() == []
    assert not [c for c in w.network.calls if c[0] != "router_model"]


def test_a_failed_push_marks_nothing():
    w = World()
    w.converge()
    w.appliances.refuse = True
    # A new instance on the network: the router's document changes, its push fails.
    w.network.models[RID].tenant_ports.append(vm_port(1))
    out = w.step(full=True)
    assert w.rec.state(REF).steps[-1].step == "ConfigureVM"
    assert out.kind is OutcomeKind.RETRY
    assert w.marked() == [] and w.status("port-1") == "DOWN"
    # Once the appliance takes it, the port goes ACTIVE.
    w.appliances.refuse = False
    w.step(full=True)
    assert w.rec.state(REF).steps[-1].step == "ConfigureVM"
    assert w.marked() == ["port-1"]


def test_a_port_bound_after_the_push_is_marked_by_the_next_full_look():
    # The compute service binds a port just after creating it: the push may come first.
    w = World(vm_port(1, **{"binding:host_id": ""}))
    w.converge()
    assert w.marked() == []
    w.network.models[RID].tenant_ports[0]["binding:host_id"] = "host-a"
    w.step(full=True)  # the binding's port.update.end: same document, no push
    assert w.rec.state(REF).steps[-1].step == "Alive"
    assert w.marked() == ["port-1"]


def test_a_refused_port_update_is_retried_and_the_router_stays_active():
    w = World(vm_port(1), vm_port(2))
    w.network.refuse_ports.add("port-2")
    for _ in range(4):
        w.step()
    assert w.network.statuses[RID] == "ACTIVE"
    assert w.rec.state(REF).steps[-1].error is not None
    assert w.marked().count("port-1") == 1  # not asked twice
    w.network.refuse_ports.clear()
    w.step(full=False)  # the failed pass left the router to a full look
    assert w.status("port-2") == "ACTIVE"
    assert w.marked().count("port-1") == 1


def test_a_network_api_that_keeps_port_status_itself_is_not_logged_as_activating(caplog):
    # A real Neutron: its ports stay DOWN (the model offers them again each full look);
    # none is logged ACTIVE, and the router is served as anywhere else.
    w = World(vm_port(1))
    w.network.port_status_read_only = True
    caplog.set_level("INFO", logger="astara.orchestrator.drivers.router")
    w.converge()
    for _ in range(3):
        w.step(full=True)
    assert w.network.statuses[RID] == "ACTIVE"
    assert w.status("port-1") == "DOWN" and "port-1" in w.marked()
    assert not [r for r in caplog.records if "port-1 ACTIVE" in r.getMessage()]
