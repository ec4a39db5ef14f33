"""BYONF in the orchestrator: the image and flavor a boot uses (a pure choice), what an
image or flavor the compute API does not know leads to, and a tenant's router and load
balancer booted from their own image and flavor through the reconciler."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.loadbalancer_world import LB_ID, PROJECT, LBWorld
from tests.loadbalancer_world import REF as LB_REF
from tests.orchestrator_world import REF, RID, router_model, sync_mgmt

from astara.common.settings import default_conf
from astara.orchestrator import opts
from astara.orchestrator.byonf import BootSpec, BootSpecs, choose
from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.model import Memory, Observed, Status, Step
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.plan import plan
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.orchestrator.runtime import summary

TENANT = REF.tenant_id  # the captured router's project
DEFAULT = BootSpec("astara-appliance", "astara.appliance")
IMAGE = "5a1e0000-0000-4000-8000-0000000000a1"


def entry(id_="b1", project=TENANT, function_type="router", image=IMAGE, flavor="m1.big"):
    return {"id": id_, "project_id": project, "tenant_id": project,
            "function_type": function_type, "image_uuid": image, "flavor_id": flavor}


@pytest.mark.parametrize(("enabled", "kind", "project", "entries", "expected"), [
    (True, "router", TENANT, [entry()], BootSpec(IMAGE, "m1.big", "byonf b1")),
    # Disabled: entries are ignored.
    (False, "router", TENANT, [entry()], DEFAULT),
    # No flavor in the entry: the default flavor with the entry's image.
    (True, "router", TENANT, [entry(flavor=None)], BootSpec(IMAGE, "astara.appliance",
                                                            "byonf b1")),
    (True, "router", TENANT, [entry(flavor="  ")], BootSpec(IMAGE, "astara.appliance",
                                                            "byonf b1")),
    # Another kind's, another project's, or no project at all: the defaults.
    (True, "loadbalancer", TENANT, [entry()], DEFAULT),
    (True, "router", "someone-else", [entry()], DEFAULT),
    (True, "router", None, [entry()], DEFAULT),
    (True, "vpn", TENANT, [entry(function_type="vpn")], DEFAULT),
    (True, "loadbalancer", TENANT, [entry(), entry("b2", function_type="loadbalancer")],
     BootSpec(IMAGE, "m1.big", "byonf b2")),
    # An entry without a usable image is no entry.
    (True, "router", TENANT, [entry(image=None)], DEFAULT),
    (True, "router", TENANT, [entry(image="")], DEFAULT),
    (True, "router", TENANT, ["junk", entry(image=7)], DEFAULT),
    # Several (the API allows one): the smallest id, the same in every worker.
    (True, "router", TENANT, [entry("b9", flavor="x"), entry("b3", flavor="y")],
     BootSpec(IMAGE, "y", "byonf b3")),
    (True, "router", TENANT, [], DEFAULT),
])
def test_choice_of_image_and_flavor(enabled, kind, project, entries, expected):
    assert choose(enabled, kind, project, entries, DEFAULT) == expected


def test_resolve_asks_the_network_api_only_when_enabled():
    network, compute = FakeNetwork(collections={"byonfs": [entry()]}), FakeCompute()
    assert BootSpecs(network, compute, DEFAULT, enabled=False).resolve("router", TENANT) \
        == (DEFAULT, None)
    assert not [c for c in network.calls if c[0] == "list"]
    spec, problem = BootSpecs(network, compute, DEFAULT, enabled=True).resolve("router",
                                                                               TENANT)
    assert (spec, problem) == (BootSpec(IMAGE, "m1.big", "byonf b1"), None)
    assert ("list", "byonfs", (("function_type", "router"), ("tenant_id", TENANT))) \
        in network.calls
    assert ("missing", IMAGE, "m1.big") in compute.calls


def test_resolve_names_an_unknown_image_or_flavor_and_where_it_came_from():
    network = FakeNetwork(collections={"byonfs": [entry()]})
    specs = BootSpecs(network, FakeCompute(images={"astara-appliance"}), DEFAULT, True)
    spec, problem = specs.resolve("router", TENANT)
    assert problem == (f"no image named '{IMAGE}' in the compute service "
                       "(image and flavor from byonf b1)")
    specs = BootSpecs(network, FakeCompute(flavors={"astara.appliance"}), DEFAULT, True)
    assert "no flavor named 'm1.big'" in specs.resolve("router", TENANT)[1]
    # The defaults are checked too.
    specs = BootSpecs(network, FakeCompute(images=set()), DEFAULT, False)
    assert specs.resolve("router", TENANT)[1] == (
        "no image named 'astara-appliance' in the compute service "
        "(image and flavor from default)")


def test_a_boot_that_cannot_succeed_is_error_at_once_and_makes_nothing():
    s = replace(plan_defaults(), error_cooldown=60)
    o = Observed(exists=True, desired_digest="pending", now=100.0,
                 boot_problem="no image named 'x' in the compute service")
    d = plan(o, s)
    assert (d.step, d.status) == (Step.EXIT, Status.ERROR)
    assert d.outcome.after == 60 and d.memory.error_until == 160.0
    assert d.memory.last_error == "cannot boot: no image named 'x' in the compute service"
    assert "no image named 'x'" in d.reason
    # Without a problem the same observation boots.
    assert plan(replace(o, boot_problem=None), s).step is Step.CREATE_VM
    # In error, the cooldown over: ClearError, then (the problem still there) ERROR again,
    # for twice as long.
    later = replace(o, memory=d.memory, now=161.0)
    cleared = plan(later, s)
    assert cleared.step is Step.CLEAR_ERROR
    again = plan(replace(later, memory=cleared.memory), s)
    assert again.status is Status.ERROR and again.outcome.after == 120


def test_enable_byonf_is_a_default_option_off_by_default():
    assert opts.defaults().enable_byonf is False
    conf = default_conf(opts.GROUPS)
    conf.set_override("enable_byonf", True)
    assert opts.from_conf(conf).enable_byonf is True


class RouterWorld:
    def __init__(self, entries: list[dict], enabled: bool = True, **compute_kw):
        self.network = FakeNetwork(models={RID: router_model()},
                                   collections={"byonfs": entries})
        self.compute = FakeCompute(**compute_kw)
        self.appliances = FakeAppliances(self.compute)
        self.now = 1000.0
        self.rec = Reconciler(
            Observer(self.network, self.compute, self.appliances, management_defaults(),
                     boot=BootSpecs(self.network, self.compute, DEFAULT, enabled)),
            Executor(self.network, self.compute, self.appliances),
            replace(plan_defaults(), error_cooldown=60), clock=lambda: self.now)

    def step(self):
        out = self.rec.run(REF)
        sync_mgmt(self.network, self.appliances)
        self.now += max(out.after, 0.001)
        return out

    def converge(self):
        for _ in range(20):
            self.step()
            if self.rec.state(REF).steps[-1].step == "Alive":
                return
        raise AssertionError([s.step for s in self.rec.state(REF).steps])


def test_a_tenants_router_boots_from_its_own_image_and_flavor():
    w = RouterWorld([entry(flavor="2"), entry("other", project="p2", image="x")])
    w.converge()
    (server,) = w.compute.servers.values()
    assert (server.image, server.flavor) == (IMAGE, "2")
    assert w.network.statuses[RID] == "ACTIVE"
    # Looked up once, for the boot; the health checks after ask nothing more.
    lists = [c for c in w.network.calls if c[0] == "list"]
    assert len(lists) == 1
    w.network.calls.clear()
    w.step()
    assert not [c for c in w.network.calls if c[0] == "list"]


def test_without_an_entry_or_disabled_the_defaults_boot():
    for w in (RouterWorld([entry(project="p2")]), RouterWorld([entry()], enabled=False)):
        w.converge()
        (server,) = w.compute.servers.values()
        assert (server.image, server.flavor) == (DEFAULT.image, DEFAULT.flavor)


def test_a_changed_entry_is_used_by_the_next_boot_not_the_running_appliance():
    w = RouterWorld([entry(flavor="2")])
    w.converge()
    (first,) = w.compute.servers.values()
    w.network.collections["byonfs"] = [entry(image="6b2f0000-0000-4000-8000-0000000000b2",
                                             flavor="1")]
    for _ in range(3):
        w.step()  # health checks: the running appliance is left as it is
    assert list(w.compute.servers) == [first.id] and first.flavor == "2"
    w.rec.rebuild(REF)
    w.converge()
    (second,) = [s for s in w.compute.servers.values() if not s.deleting]
    assert second.id != first.id
    assert (second.image, second.flavor) == ("6b2f0000-0000-4000-8000-0000000000b2", "1")


def test_an_unknown_image_is_error_with_the_reason_and_nothing_half_booted():
    w = RouterWorld([entry()], images={"astara-appliance"})
    w.step()
    st = w.rec.state(REF)
    assert st.steps[-1].step == "Exit" and st.steps[-1].status == "error"
    assert w.network.statuses[RID] == "ERROR"
    assert not w.compute.servers
    assert RID not in w.network.mgmt_ports  # no management port made either
    assert not [c for c in w.compute.calls if c[0] == "boot"]
    view = summary(RID, st)
    assert view["status"] == "ERROR"
    assert view["last_error"] == (f"cannot boot: no image named '{IMAGE}' in the compute "
                                  "service (image and flavor from byonf b1)")
    assert IMAGE in view["steps"][-1]["reason"]
    # The admin fixes the entry and asks for a rebuild: it boots from the new one.
    w.network.collections["byonfs"] = [entry(image="astara-appliance", flavor="2")]
    w.rec.rebuild(REF)
    w.converge()
    (server,) = w.compute.servers.values()
    assert (server.image, server.flavor) == ("astara-appliance", "2")
    assert w.network.statuses[RID] == "ACTIVE"
    assert w.rec.state(REF).memory == replace(Memory(), boots=1)


def test_an_image_gone_between_the_look_and_the_boot_is_a_retry_then_error():
    w = RouterWorld([entry()])
    w.compute.images = {"astara-appliance"}
    st = w.rec.state(REF)
    observed, decision = w.rec.decide(REF)
    assert decision.step is Step.EXIT  # seen at once
    w.compute.images = None
    observed, decision = w.rec.decide(REF)
    assert decision.step is Step.CREATE_VM
    w.compute.images = {"astara-appliance"}  # gone meanwhile
    out = w.rec.execute(REF, decision)
    assert out.kind == "retry" and "boot refused" in st.steps[-1].error
    assert not w.compute.servers


def test_a_tenants_load_balancer_boots_from_its_own_image_and_flavor():
    w = LBWorld()
    w.network.collections["byonfs"] = [
        entry("r", project=PROJECT, function_type="router", image="router-image"),
        entry("l", project=PROJECT, function_type="loadbalancer", image="lb-image",
              flavor="lb-flavor")]
    w.rec.observer.boot = BootSpecs(w.network, w.compute, DEFAULT, True)
    w.converge()
    (server,) = w.compute.servers.values()
    assert (server.router_id, server.image, server.flavor) == (LB_ID, "lb-image",
                                                               "lb-flavor")
    assert ("list", "byonfs", (("function_type", "loadbalancer"),
                               ("tenant_id", PROJECT))) in w.network.calls


def test_a_load_balancer_whose_image_is_unknown_is_error_with_nothing_booted():
    w = LBWorld()
    w.network.collections["byonfs"] = [
        entry("l", project=PROJECT, function_type="loadbalancer", image="lb-image")]
    w.compute.images = {"astara-appliance"}
    w.rec.observer.boot = BootSpecs(w.network, w.compute, DEFAULT, True)
    w.step()
    rec = w.rec.state(LB_REF).steps[-1]
    assert (rec.step, rec.status) == ("Exit", "error") and "lb-image" in rec.reason
    assert w.status_of(LB_ID)["provisioning_status"] == "ERROR"
    assert w.lbs.writes[-1][1]["loadbalancer"] == {"provisioning_status": "ERROR"}
    assert not w.compute.servers and LB_ID not in w.network.mgmt_ports


def _client(handler):
    import httpx

    from astara.orchestrator.clients.network import HttpNetworkAPI

    api = HttpNetworkAPI("http://network.test/", "mgmt", {"X-Roles": "admin"})
    api._http = httpx.Client(base_url="http://network.test/v2.0",
                             transport=httpx.MockTransport(handler), timeout=1.0)
    return api


def test_network_client_list_and_a_neutron_without_the_extension():
    import httpx

    from astara.orchestrator.clients.base import RemoteError

    seen = []

    def ours(request):
        seen.append(str(request.url))
        return httpx.Response(200, json={"byonfs": [entry(), "junk"]})

    api = _client(ours)
    assert api.list("byonfs", tenant_id=TENANT, function_type="router") == [entry()]
    assert seen == [f"http://network.test/v2.0/byonfs?tenant_id={TENANT}"
                    "&function_type=router"]
    # Neutron without the extension: 404 for the collection, so no entries.
    neutron = _client(lambda r: httpx.Response(404, json={"NeutronError": {
        "type": "HTTPNotFound", "message": "The resource could not be found.",
        "detail": ""}}))
    assert neutron.list("byonfs", tenant_id=TENANT) == []
    assert BootSpecs(neutron, FakeCompute(), DEFAULT, True).resolve("router", TENANT) \
        == (DEFAULT, None)
    for bad in (httpx.Response(200, json={"other": []}), httpx.Response(403, json={})):
        with pytest.raises(RemoteError):
            _client(lambda r, bad=bad: bad).list("byonfs")


def test_a_neutron_ha_or_dvr_router_is_error_with_the_reason_and_nothing_made():
    from astara.orchestrator.clients import router_model as rm
    from astara.orchestrator.clients.router_model import RouterModel
    w = RouterWorld([])
    reason = rm.refusal({"id": RID, "ha": True, "distributed": False})
    assert reason is not None and "l3_ha = False" in reason
    assert rm.refusal({"id": RID, "ha": False, "distributed": False}) is None
    w.network.models[RID] = RouterModel({"id": RID, "project_id": TENANT, "ha": False},
                                        [], {}, {}, refused=reason)
    w.step()
    st = w.rec.state(REF)
    assert (st.steps[-1].step, st.steps[-1].status) == ("Exit", "error")
    assert w.network.statuses[RID] == "ERROR"
    assert summary(RID, st)["last_error"] == f"cannot boot: {reason}"
    assert not w.compute.servers and RID not in w.network.mgmt_ports
