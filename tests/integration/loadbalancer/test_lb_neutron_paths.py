"""The Neutron LBaaS v2 paths of the network API (``/v2.0/lbaas/...``), driven through
openstacksdk's ``network`` proxy: the same objects, notifications and quotas as the
Octavia API's, in neutron-lbaas's views, Neutron's errors and Neutron's scoping."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import httpx
import pytest
from openstack import exceptions as sdk_exc
from sqlalchemy import func, select

from astara.bus.outbox import OutboxRow
from astara.loadbalancer_service.settings import defaults as lb_defaults
from astara.network_service.app import create_app
from tests.integration.loadbalancer.conftest import Who
from tests.support import Server, free_port


@pytest.fixture(scope="module")
def neutron_api(network_settings):
    """A second network API on the same database, with the LBaaS v2 paths on."""
    port = free_port()
    lb = replace(lb_defaults(network_settings), neutron_lbaasv2=True,
                 quotas=(("loadbalancer", 3),))
    app = create_app(replace(network_settings, network=replace(network_settings.network,
                                                               bind_port=port)), lb)
    server = Server(app, port).start()
    yield server
    server.stop()
    app.state.service.db.dispose()


class Caller(Who):
    """A caller of the network API's LBaaS v2 paths (the SDK's network proxy, or HTTP on
    /v2.0); the load-balancer API beside it is the conftest's ``Who``'s."""

    def __init__(self, neutron_api: Server, lb_api: Server, role: str = "member",
                 project: str | None = None):
        super().__init__(lb_api, neutron_api, project or uuid.uuid4().hex, role)
        self.url = neutron_api.url

    @property
    def net(self):
        return self.sdk.network

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/v2.0", headers=self.headers)


@pytest.fixture
def ann(neutron_api, lb_api) -> Caller:
    return Caller(neutron_api, lb_api)


@pytest.fixture
def ben(neutron_api, lb_api) -> Caller:
    return Caller(neutron_api, lb_api)


@pytest.fixture
def root(neutron_api, lb_api) -> Caller:
    return Caller(neutron_api, lb_api, "admin")


@pytest.fixture
def subnet(ann):
    net = ann.net.create_network(name="lbaas-net")
    return ann.net.create_subnet(network_id=net.id, cidr="10.30.0.0/24", ip_version=4)


def graph(who: Caller, subnet) -> dict:
    lb = who.net.create_load_balancer(vip_subnet_id=subnet.id, name="lb")
    listener = who.net.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                       protocol_port=80, name="l80")
    pool = who.net.create_pool(listener_id=listener.id, protocol="HTTP",
                               lb_algorithm="ROUND_ROBIN", name="p")
    member = who.net.create_pool_member(pool, address="10.30.0.40", protocol_port=8080,
                                        subnet_id=subnet.id, name="m")
    monitor = who.net.create_health_monitor(pool_id=pool.id, type="HTTP", delay=3,
                                            timeout=2, max_retries=2, name="hm")
    return {"lb": lb, "listener": listener, "pool": pool, "member": member,
            "monitor": monitor}


def _error(resp: httpx.Response) -> dict:
    body = resp.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}
    return body["NeutronError"]


def test_crud_of_every_resource_through_the_sdk(ann, subnet, boss):
    g = graph(ann, subnet)
    lb = ann.net.get_load_balancer(g["lb"].id)
    assert lb.project_id == ann.project and lb.vip_subnet_id == subnet.id
    assert lb.provisioning_status == "PENDING_CREATE" and lb.vip_port_id
    assert [x["id"] for x in lb.listener_ids] == [g["listener"].id]
    assert [x["id"] for x in lb.pool_ids] == [g["pool"].id]
    port = ann.net.get_port(lb.vip_port_id)
    assert port.device_owner == "Octavia" and port.device_id == f"lb-{lb.id}"
    pool = ann.net.get_pool(g["pool"].id)
    assert pool.health_monitor_id == g["monitor"].id
    assert [x["id"] for x in pool.member_ids] == [g["member"].id]
    assert [x["id"] for x in pool.listener_ids] == [g["listener"].id]
    listener = ann.net.get_listener(g["listener"].id)
    assert listener.default_pool_id == pool.id and listener.connection_limit == -1
    member = ann.net.get_pool_member(g["member"], pool)
    assert (member.address, member.weight, member.subnet_id) == ("10.30.0.40", 1, subnet.id)
    monitor = ann.net.get_health_monitor(g["monitor"].id)
    assert [x["id"] for x in monitor.pool_ids] == [pool.id] and monitor.url_path == "/"

    assert ann.net.update_load_balancer(lb, name="lb2").name == "lb2"
    assert ann.net.update_listener(listener, connection_limit=10).connection_limit == 10
    assert ann.net.update_pool(pool, lb_algorithm="SOURCE_IP").lb_algorithm == "SOURCE_IP"
    assert ann.net.update_pool_member(member, pool, weight=5).weight == 5
    assert ann.net.update_health_monitor(monitor, delay=7).delay == 7

    assert [x.id for x in ann.net.load_balancers(name="lb2")] == [lb.id]
    assert [x.id for x in ann.net.listeners(protocol_port=80)] == [listener.id]
    assert [x.id for x in ann.net.pools(loadbalancer_id=lb.id)] == [pool.id]
    assert [x.id for x in ann.net.pool_members(pool, weight=5)] == [member.id]
    assert list(ann.net.pool_members(pool, weight=4)) == []
    assert [x.id for x in ann.net.health_monitors(type="HTTP")] == [monitor.id]

    ann.net.delete_health_monitor(monitor)
    ann.net.delete_pool_member(member, pool)
    ann.net.delete_pool(pool)
    ann.net.delete_listener(listener)
    ann.net.delete_load_balancer(lb)
    with pytest.raises(sdk_exc.NotFoundException):
        ann.net.get_load_balancer(lb.id)
    # The VIP port made for it is kept (its address with it) until the orchestrator,
    # having seen the appliance gone, releases it, as on the Octavia paths.
    assert ann.net.get_port(lb.vip_port_id).id == lb.vip_port_id
    with boss.http() as c:
        assert lb.vip_port_id in [x["port_id"] for x in
                                  c.get("/astara/vip_ports").json()["vip_ports"]]
        assert c.delete(f"/astara/loadbalancers/{lb.id}/vip_port").status_code == 204
    with pytest.raises(sdk_exc.NotFoundException):
        ann.net.get_port(lb.vip_port_id)


def test_views_are_neutron_lbaas_shaped(ann, subnet):
    g = graph(ann, subnet)
    with ann.http() as c:
        lb = c.get(f"/lbaas/loadbalancers/{g['lb'].id}").json()["loadbalancer"]
        pool = c.get(f"/lbaas/pools/{g['pool'].id}").json()["pool"]
        member = c.get(f"/lbaas/pools/{g['pool'].id}/members/{g['member'].id}").json()
        tcp = c.post("/lbaas/healthmonitors", json={"healthmonitor": {
            "pool_id": c.post("/lbaas/pools", json={"pool": {
                "loadbalancer_id": g["lb"].id, "protocol": "TCP",
                "lb_algorithm": "ROUND_ROBIN"}}).json()["pool"]["id"],
            "type": "TCP", "delay": 2, "timeout": 1, "max_retries": 3}}).json()
    assert lb["tenant_id"] == lb["project_id"] == ann.project
    assert lb["listeners"] == [{"id": g["listener"].id}]
    assert "created_at" not in lb and "tags" not in lb and "vip_network_id" not in lb
    assert pool["healthmonitor_id"] == g["monitor"].id and pool["session_persistence"] is None
    assert pool["loadbalancers"] == [{"id": g["lb"].id}]
    assert "provisioning_status" not in pool and "listener_id" not in pool
    assert set(member["member"]) == {"id", "tenant_id", "project_id", "name", "admin_state_up",
                                     "address", "protocol_port", "weight", "subnet_id"}
    hm = tcp["healthmonitor"]
    assert hm["max_retries_down"] == 3 and "url_path" not in hm and "http_method" not in hm


def test_one_truth_with_the_octavia_api(ann, subnet):
    g = graph(ann, subnet)
    octavia = ann.sdk.load_balancer
    seen = octavia.get_load_balancer(g["lb"].id)
    assert seen.vip_port_id == g["lb"].vip_port_id and seen.name == "lb"
    assert octavia.get_health_monitor(g["monitor"].id).pools == [{"id": g["pool"].id}]
    assert octavia.get_member(g["member"].id, g["pool"].id).address == "10.30.0.40"
    # and the other way: made on the Octavia API, seen and changed on the Neutron paths
    lb2 = octavia.create_load_balancer(vip_subnet_id=subnet.id, name="from-octavia")
    listener = octavia.create_listener(loadbalancer_id=lb2.id, protocol="TCP",
                                       protocol_port=443)
    assert ann.net.get_load_balancer(lb2.id).name == "from-octavia"
    assert ann.net.get_listener(listener.id).protocol == "TCP"
    ann.net.update_listener(listener.id, name="renamed-on-neutron")
    assert octavia.get_listener(listener.id).name == "renamed-on-neutron"
    assert octavia.get_load_balancer(lb2.id).provisioning_status == "PENDING_CREATE"


def test_scoping_as_neutron(ann, ben, root, subnet):
    g = graph(ann, subnet)
    lb_id, pool_id = g["lb"].id, g["pool"].id
    with ben.http() as c:
        for path in (f"/lbaas/loadbalancers/{lb_id}", f"/lbaas/pools/{pool_id}",
                     f"/lbaas/pools/{pool_id}/members/{g['member'].id}",
                     f"/lbaas/loadbalancers/{lb_id}/statuses"):
            resp = c.get(path)
            assert resp.status_code == 404, path
            assert "could not be found" in _error(resp)["message"]
        resp = c.put(f"/lbaas/listeners/{g['listener'].id}", json={"listener": {"name": "x"}})
        assert resp.status_code == 404
        assert _error(resp)["message"] == f"Listener {g['listener'].id} could not be found"
        assert c.delete(f"/lbaas/loadbalancers/{lb_id}").status_code == 404
        resp = c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 81}})
        assert resp.status_code == 404, resp.text
        resp = c.post(f"/lbaas/pools/{pool_id}/members", json={"member": {
            "address": "10.30.0.9", "protocol_port": 80, "subnet_id": subnet.id}})
        assert resp.status_code == 404, resp.text
        assert c.get(f"/lbaas/pools/{pool_id}/members").status_code == 404
        assert c.get("/lbaas/loadbalancers").json()["loadbalancers"] == []
        assert c.get(f"/lbaas/loadbalancers?tenant_id={ann.project}").json() == {
            "loadbalancers": []}
        resp = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet.id, "tenant_id": ann.project}})
        assert resp.status_code == 400
        assert "requires admin privileges" in _error(resp)["message"]
    assert ann.net.get_load_balancer(lb_id).name == "lb"  # untouched
    assert lb_id in [x.id for x in root.net.load_balancers(project_id=ann.project)]
    made = root.net.create_load_balancer(vip_subnet_id=subnet.id, project_id=ann.project)
    assert made.project_id == ann.project
    assert made.id in [x.id for x in ann.net.load_balancers()]
    # a caller who is only a reader of the project reads, and writes nothing
    reader = Caller.__new__(Caller)
    reader.__dict__.update(ann.__dict__, _conn=None,
                           headers={**ann.headers, "X-Roles": "reader"})
    assert reader.net.get_load_balancer(lb_id).id == lb_id
    with reader.http() as c:
        resp = c.put(f"/lbaas/loadbalancers/{lb_id}",
                     json={"loadbalancer": {"description": "by reader"}})
        assert resp.status_code == 403 and _error(resp)["type"] == "PolicyNotAuthorized"
    assert ann.net.get_load_balancer(lb_id).description != "by reader"


def test_errors_in_neutron_format(ann, subnet):
    g = graph(ann, subnet)
    with ann.http() as c:
        resp = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet.id, "bogus": 1}})
        assert resp.status_code == 400 and _error(resp)["type"] == "HTTPBadRequest"
        assert _error(resp)["message"] == "Unrecognized attribute(s) 'bogus'"
        resp = c.put(f"/lbaas/loadbalancers/{g['lb'].id}",
                     json={"loadbalancer": {"vip_address": "10.30.0.5"}})
        assert resp.status_code == 400
        assert _error(resp)["message"] == "Attribute 'vip_address' not allowed in PUT"
        resp = c.post(f"/lbaas/pools/{g['pool'].id}/members", json={"member": {
            "address": "10.30.0.41", "protocol_port": 80}})
        assert resp.status_code == 400
        assert "Required attribute 'subnet_id' not specified" in _error(resp)["message"]
        resp = c.post("/lbaas/pools", json={"pool": {
            "listener_id": g["listener"].id, "protocol": "PROXY", "lb_algorithm": "ROUND_ROBIN"}})
        assert resp.status_code == 400 and "is not in" in _error(resp)["message"]
        resp = c.post("/lbaas/healthmonitors", json={"healthmonitor": {
            "pool_id": g["pool"].id, "type": "TCP", "delay": 1, "timeout": 5, "max_retries": 2}})
        assert resp.status_code == 400 and _error(resp)["type"] == "DelayOrTimeoutInvalid"
        resp = c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": g["lb"].id, "protocol": "HTTP", "protocol_port": 80}})
        assert resp.status_code == 409 and _error(resp)["type"] == "Conflict"
        resp = c.post("/lbaas/healthmonitors", json={"healthmonitor": {
            "pool_id": g["pool"].id, "type": "TCP", "delay": 5, "timeout": 1, "max_retries": 2}})
        assert resp.status_code == 409, resp.text
        resp = c.delete(f"/lbaas/loadbalancers/{g['lb'].id}")
        assert resp.status_code == 409 and _error(resp)["type"] == "EntityInUse"
        missing = str(uuid.uuid4())
        resp = c.get(f"/lbaas/healthmonitors/{missing}")
        assert resp.status_code == 404
        assert _error(resp) == {"type": "EntityNotFound", "detail": "",
                                "message": f"HealthMonitor {missing} could not be found"}
        resp = c.get("/lbaas/pools?color=red")
        assert resp.status_code == 400
        assert _error(resp)["message"] == "[color] is invalid attribute for filtering"
        resp = c.get("/lbaas/pools?sort_key=members")
        assert resp.status_code == 400
        resp = c.get(f"/lbaas/pools?marker={missing}&limit=1")
        assert resp.status_code == 404 and "Marker" in _error(resp)["message"]
        assert c.get("/lbaas/nothing").status_code == 404
        assert c.post("/lbaas/loadbalancers", content=b"{").status_code == 400


def test_quota_is_the_services_and_answers_409(ann, subnet):
    for _ in range(3):
        ann.net.create_load_balancer(vip_subnet_id=subnet.id)
    with ann.http() as c:
        resp = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet.id}})
    assert resp.status_code == 409
    assert _error(resp) == {"type": "OverQuota", "detail": "",
                            "message": "Quota exceeded for resources: ['loadbalancer']."}


def test_a_quota_set_on_the_octavia_api_holds_here(ann, root, subnet):
    with httpx.Client(base_url=f"{root.lb_url}/v2", headers=root.headers) as c:
        assert c.put(f"/lbaas/quotas/{ann.project}",
                     json={"quota": {"loadbalancer": 1}}).status_code == 202
    ann.net.create_load_balancer(vip_subnet_id=subnet.id)
    with ann.http() as c:
        resp = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet.id}})
    assert resp.status_code == 409 and _error(resp)["type"] == "OverQuota"
    assert len(list(ann.sdk.load_balancer.load_balancers())) == 1


def test_lists_page_sort_and_select_fields(ann, subnet):
    lbs = [ann.net.create_load_balancer(vip_subnet_id=subnet.id, name=f"n{i}")
           for i in range(3)]
    ids = sorted(lb.id for lb in lbs)
    with ann.http() as c:
        first = c.get("/lbaas/loadbalancers?limit=2&fields=id&fields=name").json()
        assert [x["id"] for x in first["loadbalancers"]] == ids[:2]
        assert set(first["loadbalancers"][0]) == {"id", "name"}
        nxt = next(x["href"] for x in first["loadbalancers_links"] if x["rel"] == "next")
        second = c.get(nxt).json()
        assert [x["id"] for x in second["loadbalancers"]] == ids[2:]
        named = c.get("/lbaas/loadbalancers?sort_key=name&sort_dir=desc").json()
        assert [x["name"] for x in named["loadbalancers"]] == ["n2", "n1", "n0"]
        picked = c.get("/lbaas/loadbalancers?name=n0&name=n2").json()
        assert sorted(x["name"] for x in picked["loadbalancers"]) == ["n0", "n2"]


def test_status_tree(ann, subnet):
    g = graph(ann, subnet)
    ann.net.update_pool_member(g["member"], g["pool"], admin_state_up=False)
    with ann.http() as c:
        tree = c.get(f"/lbaas/loadbalancers/{g['lb'].id}/statuses").json()
    lb = tree["statuses"]["loadbalancer"]
    assert (lb["id"], lb["provisioning_status"]) == (g["lb"].id, "PENDING_CREATE")
    assert lb["operating_status"] == "DEGRADED"  # not built yet: OFFLINE, as neutron-lbaas
    [listener] = lb["listeners"]
    assert listener["id"] == g["listener"].id and listener["l7policies"] == []
    [pool] = listener["pools"]
    assert pool["id"] == g["pool"].id and lb["pools"][0]["id"] == g["pool"].id
    assert pool["healthmonitor"]["id"] == g["monitor"].id
    assert pool["healthmonitor"]["type"] == "HTTP"
    [member] = pool["members"]
    assert (member["address"], member["operating_status"]) == ("10.30.0.40", "DISABLED")


def test_writes_queue_the_services_notifications(ann, subnet, neutron_api):
    db = neutron_api._server.config.app.state.service.db
    with db.read() as s:
        start = s.scalar(select(func.max(OutboxRow.id))) or 0
    g = graph(ann, subnet)
    ann.net.delete_pool_member(g["member"], g["pool"])
    with db.read() as s:
        rows = [json.loads(r.body) for r in s.scalars(
            select(OutboxRow).where(OutboxRow.id > start).order_by(OutboxRow.id))]
    mine = [r for r in rows if r["event_type"].endswith(".end") and
            r["event_type"].split(".")[0] in ("loadbalancer", "listener", "pool", "member",
                                              "healthmonitor")]
    assert [r["event_type"] for r in mine] == [
        "loadbalancer.create.end", "listener.create.end", "pool.create.end",
        "member.create.end", "healthmonitor.create.end", "member.delete.end"]
    assert mine[1]["payload"]["loadbalancer_id"] == g["lb"].id
    assert mine[-1]["payload"] == {"member_id": g["member"].id, "loadbalancer_id": g["lb"].id}
    assert all(r["_context_project_id"] == ann.project for r in mine)


def test_extension_listed_only_when_enabled(ann, network_api):
    with ann.http() as c:
        aliases = [e["alias"] for e in c.get("/extensions").json()["extensions"]]
        assert "lbaasv2" in aliases
        assert c.get("/extensions/lbaasv2").json()["extension"]["alias"] == "lbaasv2"
    with httpx.Client(base_url=f"{network_api.url}/v2.0", headers=ann.headers) as c:
        aliases = [e["alias"] for e in c.get("/extensions").json()["extensions"]]
        assert "lbaasv2" not in aliases
        assert c.get("/extensions/lbaasv2").status_code == 404
        assert c.get("/lbaas/loadbalancers").status_code == 404


JUNK = [None, [], "x", 7, {"a": 1}, {"loadbalancer": None}, {"listener": []},
        {"pool": {"protocol": 5, "lb_algorithm": []}},
        {"member": {"address": "1.2.3.4", "protocol_port": "abc", "subnet_id": "nope"}},
        {"healthmonitor": {"pool_id": "x" * 300, "type": "HTTP", "delay": "a", "timeout": -1,
                           "max_retries": 99}},
        {"loadbalancer": {"vip_subnet_id": str(uuid.uuid4()), "vip_address": "300.1.1.1"}},
        {"loadbalancer": {"vip_subnet_id": str(uuid.uuid4())}},
        {"listener": {"loadbalancer_id": str(uuid.uuid4()), "protocol": "HTTP",
                      "protocol_port": 70000}},
        {"pool": {"session_persistence": {"type": "BAD"}, "protocol": "HTTP",
                  "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": str(uuid.uuid4())}}]


def test_bad_requests_never_5xx_and_always_neutron_bodies(ann, subnet):
    g = graph(ann, subnet)
    paths = ["/lbaas/loadbalancers", "/lbaas/listeners", "/lbaas/pools", "/lbaas/healthmonitors",
             f"/lbaas/pools/{g['pool'].id}/members"]
    items = [f"/lbaas/loadbalancers/{g['lb'].id}", f"/lbaas/listeners/{g['listener'].id}",
             f"/lbaas/pools/{g['pool'].id}", f"/lbaas/healthmonitors/{g['monitor'].id}",
             f"/lbaas/pools/{g['pool'].id}/members/{g['member'].id}"]
    with ann.http() as c:
        for body in JUNK:
            for path in paths:
                resp = c.post(path, content=json.dumps(body))
                assert 400 <= resp.status_code < 500, (path, body, resp.text)
                _error(resp)
            for path in items:
                resp = c.put(path, content=json.dumps(body))
                assert 400 <= resp.status_code < 500, (path, body, resp.text)
                _error(resp)
        for path in items + ["/lbaas/pools/%00/members", "/lbaas/loadbalancers/" + "x" * 300]:
            resp = c.get(path + "?fields=id&limit=abc")
            assert resp.status_code < 500
    assert ann.net.get_pool(g["pool"].id).name == "p"  # nothing half-written
