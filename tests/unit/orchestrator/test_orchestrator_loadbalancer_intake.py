"""The load-balancer service's notifications -> load balancer keys (only with the
loadbalancer driver enabled), its appliances' compute notifications, its client, and
the ``enabled_drivers`` option."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.loadbalancer_world import LB_ID, PROJECT, body, lb_view, listener, member, web
from tests.unit.orchestrator.test_orchestrator_intake import appliance_event

from astara.common.entry import ConfigError
from astara.common.settings import default_conf
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.notifier import LoadBalancerNotifier
from astara.orchestrator import intake
from astara.orchestrator import opts as orch_opts
from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.clients.loadbalancer import HttpLoadBalancerAPI
from astara.orchestrator.drivers import loadbalancer, registry, router
from astara.orchestrator.keys import Crud, ResourceRef

BOTH = ("router", "loadbalancer")
REF = ResourceRef("loadbalancer", LB_ID, PROJECT)


class Bus:
    def __init__(self):
        self.sent: list[dict] = []

    def publish_all(self, unit, topic, messages):
        self.sent.extend(messages)


def emitted(kind: str, action: str, view: dict | None, id_: str,
            ctx: RequestContext | None = None) -> dict:
    """What the load-balancer service puts on the bus for one write (its own notifier)."""
    bus = Bus()
    n = LoadBalancerNotifier(bus, None, ctx or RequestContext(PROJECT, "alice", ("member",)),
                             "host-1")  # type: ignore[arg-type]
    n.changed(kind, action, view, id_, LB_ID)
    n.flush()
    [msg] = bus.sent
    return json.loads(json.dumps(msg))


@pytest.mark.parametrize("message, crud", [
    (emitted("loadbalancer", "create", lb_view(), LB_ID), Crud.CREATE),
    (emitted("loadbalancer", "update", lb_view(), LB_ID), Crud.UPDATE),
    (emitted("loadbalancer", "delete", None, LB_ID), Crud.DELETE),
    (emitted("listener", "create", listener("l-1"), "l-1"), Crud.UPDATE),
    (emitted("listener", "delete", None, "l-1"), Crud.UPDATE),
    (emitted("pool", "update", web()["pools"][0], "p-http"), Crud.UPDATE),
    (emitted("member", "create", member("m-9", "192.0.2.9"), "m-9"), Crud.UPDATE),
    (emitted("member", "delete", None, "m-9"), Crud.UPDATE),
    (emitted("healthmonitor", "update", web()["healthmonitors"][0], "hm-http"), Crud.UPDATE),
    (emitted("l7policy", "create", {"id": "po-1", "listener_id": "l-1"}, "po-1"),
     Crud.UPDATE),
    (emitted("l7policy", "delete", None, "po-1"), Crud.UPDATE),
    (emitted("l7rule", "update", {"id": "r-1", "type": "PATH"}, "r-1"), Crud.UPDATE),
    (emitted("l7rule", "delete", None, "r-1"), Crud.UPDATE),
])
def test_every_load_balancer_notification_names_its_load_balancer(message, crud):
    [event] = intake.normalize(message, BOTH)
    assert event.target == REF and event.crud is crud
    assert event.event_type == message["event_type"]


def test_an_admins_delete_still_names_the_load_balancer():
    admin = RequestContext("admin-project", "root", ("admin",))
    [event] = intake.normalize(emitted("member", "delete", None, "m-9", admin), BOTH)
    assert event.target.id == LB_ID and event.target.kind == "loadbalancer"


def test_load_balancer_notifications_are_ignored_without_the_driver():
    message = emitted("member", "create", member("m-9", "192.0.2.9"), "m-9")
    assert intake.normalize(message) == []
    assert intake.normalize(message, ("router",)) == []


def test_router_notifications_are_ignored_without_the_router_driver():
    message = {"event_type": "router.update.end", "payload": {"router": {"id": LB_ID}}}
    assert intake.normalize(message, ("loadbalancer",)) == []
    assert [e.target.kind for e in intake.normalize(message, BOTH)] == ["router"]


@pytest.mark.parametrize("message", [
    {"event_type": "member.create.start", "payload": {"member": {}, "loadbalancer_id": LB_ID}},
    {"event_type": "member.create.end", "payload": {"member": {"id": "m"}}},
    {"event_type": "member.create.end", "payload": {"loadbalancer_id": 7}},
    {"event_type": "loadbalancer.update.end", "payload": {"loadbalancer": "x"}},
])
def test_malformed_or_unfinished_load_balancer_messages_give_nothing(message):
    assert intake.normalize(message, BOTH) == []


NAMINGS = [router.NAMING, loadbalancer.NAMING]


def test_a_load_balancer_appliances_boot_wakes_its_load_balancer():
    msg = appliance_event(display_name=f"ak-lb-{LB_ID}",
                          metadata={"astara_loadbalancer_id": LB_ID})
    assert intake.appliance_instance(msg, "astara-service", NAMINGS) == \
        ResourceRef("loadbalancer", LB_ID, "astara-service")
    # Only with the driver enabled; and never under another kind's name.
    assert intake.appliance_instance(msg, "astara-service") is None
    wrong = appliance_event(display_name=f"ak-{LB_ID}",
                            metadata={"astara_loadbalancer_id": LB_ID})
    assert intake.appliance_instance(wrong, "astara-service", NAMINGS) is None


# -- the client ---------------------------------------------------------------------

def _client(handler) -> HttpLoadBalancerAPI:
    api = HttpLoadBalancerAPI("http://lb.invalid:9876/", {"X-Roles": "admin"})
    api._http.close()
    api._http = httpx.Client(base_url="http://lb.invalid:9876",
                             transport=httpx.MockTransport(handler))
    return api


NOT_FOUND = {"faultcode": "Client", "faultstring": "Load Balancer x not found.",
             "debuginfo": None}


def test_client_reads_a_model_and_a_gone_load_balancer():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if LB_ID in request.url.path:
            return httpx.Response(200, json=body(4))
        return httpx.Response(404, json=NOT_FOUND)

    api = _client(handler)
    assert api.model(LB_ID)["revision"] == 4
    assert api.model("gone") is None
    assert seen[0] == ("GET", f"/v2/astara/loadbalancers/{LB_ID}/model")


@pytest.mark.parametrize("response", [
    httpx.Response(404, text="Not Found"),  # no such route: not a deleted load balancer
    httpx.Response(403, json={"faultcode": "Client", "faultstring": "Policy does not allow"}),
    httpx.Response(503, text="down"),
    httpx.Response(200, json={"unexpected": True}),
])
def test_client_anything_but_a_fault_404_is_an_error(response):
    api = _client(lambda request: response)
    with pytest.raises(RemoteError):
        api.model(LB_ID)


def test_client_writes_statuses_and_lists_every_page():
    puts, pages = [], {None: [{"id": "a", "project_id": "p"}, {"id": "b", "project_id": "q"}],
                       "b": [{"id": "c", "project_id": "p"}], "c": []}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            puts.append((request.url.path, json.loads(request.content)))
            return httpx.Response(204)
        marker = request.url.params.get("marker")
        return httpx.Response(200, json={"loadbalancers": pages[marker]})

    api = _client(handler)
    api.write_statuses(LB_ID, {"revision": 1, "loadbalancer": {}})
    assert puts == [(f"/v2/astara/loadbalancers/{LB_ID}/statuses",
                     {"revision": 1, "loadbalancer": {}})]
    assert [r.id for r in api.loadbalancers()] == ["a", "b", "c"]


def test_client_lists_and_releases_kept_vip_ports():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.method == "GET":
            return httpx.Response(200, json={"vip_ports": [
                {"port_id": "p1", "loadbalancer_id": "a", "project_id": "x"},
                {"port_id": "p2", "loadbalancer_id": "a", "project_id": "x"}]})
        if "busy" in request.url.path:
            return httpx.Response(409, json={"faultcode": "Client", "faultstring": "retry it",
                                             "debuginfo": None})
        return httpx.Response(204)

    api = _client(handler)
    assert api.vip_ports() == [ResourceRef("loadbalancer", "a", "x")]
    api.release_vip_ports("a")
    with pytest.raises(RemoteError):  # not released: the step is retried
        api.release_vip_ports("busy")
    assert seen[:2] == [("GET", "/v2/astara/vip_ports"),
                        ("DELETE", "/v2/astara/loadbalancers/a/vip_port")]


# -- enabled_drivers ----------------------------------------------------------------

def _conf(value: str):
    conf = default_conf(orch_opts.GROUPS)
    conf.set_override("enabled_drivers", value.split(","))
    return conf


def test_enabled_drivers_default_to_the_router():
    assert orch_opts.defaults().enabled_drivers == ("router",)
    assert orch_opts.from_conf(_conf("router,loadbalancer")).enabled_drivers == BOTH


@pytest.mark.parametrize("value, message", [
    ("router,vpn", "[DEFAULT] enabled_drivers: unknown driver 'vpn' (known: router, "
                   "loadbalancer)"),
    ("", "[DEFAULT] enabled_drivers: unknown driver '' (known: router, loadbalancer)"),
])
def test_an_unknown_driver_is_one_config_error(value, message):
    with pytest.raises(ConfigError) as got:
        orch_opts.from_conf(_conf(value))
    assert str(got.value) == message


def test_the_loadbalancer_driver_needs_its_client():
    with pytest.raises(ValueError):
        registry.make(BOTH, network=None)  # type: ignore[arg-type]


# -- the parent: resync and the key's owner, with both drivers ------------------------

class _Inbox:
    def __init__(self):
        self.got: list[tuple] = []

    def put(self, msg: tuple) -> None:
        self.got.append(msg)


def _parent(lbs):
    import threading

    from tests.orchestrator_world import router_model

    from astara.orchestrator.clients.fakes import FakeNetwork
    from astara.orchestrator.service import Orchestrator, WorkerHandle

    network = FakeNetwork()
    model = router_model()
    network.models[model.router["id"]] = model
    orch = Orchestrator.__new__(Orchestrator)  # no database, no processes: the keys only
    orch.network = network  # type: ignore[assignment]
    orch.drivers = registry.make(BOTH, network, lbs)
    orch.known, orch._lock = {}, threading.Lock()
    orch._handoff = threading.Lock()
    orch.workers = [WorkerHandle(0)]
    orch.workers[0].inbox = _Inbox()  # type: ignore[assignment]
    return orch, model.router["id"]


def test_resync_queues_routers_and_load_balancers():
    from astara.orchestrator.clients.fakes import FakeLoadBalancers

    lbs = FakeLoadBalancers(models={LB_ID: body()})
    orch, rid = _parent(lbs)
    assert orch.resync() == 2
    [(_, batch, full)] = orch.workers[0].inbox.got
    assert sorted(ResourceRef(*f).kind for f in batch) == ["loadbalancer", "router"]
    assert orch.known[LB_ID] == REF and full is True


def test_resync_goes_on_without_the_load_balancer_api():
    from astara.orchestrator.clients.fakes import FakeLoadBalancers

    orch, rid = _parent(FakeLoadBalancers(down=True))
    assert orch.resync() == 1 and list(orch.known) == [rid]


def test_a_load_balancer_key_is_owned_by_its_own_project():
    from astara.orchestrator.clients.fakes import FakeLoadBalancers

    orch, _ = _parent(FakeLoadBalancers(models={LB_ID: body()}))
    # An admin's delete of a member names the admin's project in its context.
    claimed = ResourceRef("loadbalancer", LB_ID, "admin-project")
    assert orch._owned(claimed) == REF
    assert orch._owned(ResourceRef("loadbalancer", "not-a-uuid", PROJECT)) is None
    assert orch.ref_for(LB_ID) == REF
