"""The orchestrator's two admin-only endpoints (GET .../model, PUT .../statuses: the
revision rule) and Octavia's status tree, through openstacksdk and raw HTTP."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from astara.bus.outbox import OutboxRow
from tests.integration.loadbalancer import captures
from tests.integration.loadbalancer.conftest import make_graph

KINDS = ("listeners", "pools", "members", "healthmonitors")


def _service(server):
    return server._server.config.app.state.service


def _outbox_end(lb_api) -> int:
    with _service(lb_api).db.read() as s:
        return s.scalar(select(func.max(OutboxRow.id))) or 0


def _model(boss, lb_id: str) -> dict:
    with boss.http() as c:
        r = c.get(f"/astara/loadbalancers/{lb_id}/model")
    assert r.status_code == 200, r.text
    return r.json()


def _report(boss, lb_id: str, body) -> int:
    with boss.http() as c:
        r = c.put(f"/astara/loadbalancers/{lb_id}/statuses", json=body)
    assert r.status_code in (204, 400, 403, 404), r.text
    return r.status_code


@pytest.fixture
def graph(alice, subnet):
    return make_graph(alice, subnet)


def test_model_is_the_public_views_and_a_revision(alice, boss, graph):
    lb, pool = graph["lb"], graph["pool"]
    model = _model(boss, lb.id)
    assert set(model) == {"revision", "failover_count", "loadbalancer", *KINDS,
                          "l7policies", "l7rules", "certificates"}
    assert model["revision"] >= 1
    assert model["failover_count"] == 0
    with alice.http() as c:
        public = {
            "loadbalancer": c.get(f"/lbaas/loadbalancers/{lb.id}").json()["loadbalancer"],
            "listeners": [c.get(f"/lbaas/listeners/{graph['listener'].id}")
                          .json()["listener"]],
            "pools": [c.get(f"/lbaas/pools/{pool.id}").json()["pool"]],
            "members": [c.get(f"/lbaas/pools/{pool.id}/members/{graph['member'].id}")
                        .json()["member"]],
            "healthmonitors": [c.get(f"/lbaas/healthmonitors/{graph['monitor'].id}")
                               .json()["healthmonitor"]],
            "l7policies": [], "l7rules": [], "certificates": [],
        }
    assert {k: v for k, v in model.items() if k not in ("revision", "failover_count")} \
        == public


def test_every_write_bumps_the_revision_and_nothing_else_does(alice, boss, graph, subnet):
    lb, pool, listener = graph["lb"], graph["pool"], graph["listener"]
    seen = [_model(boss, lb.id)["revision"]]

    def bumped(what: str) -> None:
        now = _model(boss, lb.id)["revision"]
        assert now > seen[-1], what
        seen.append(now)

    def same(what: str) -> None:
        assert _model(boss, lb.id)["revision"] == seen[-1], what

    alice.lb.get_load_balancer(lb.id)
    list(alice.lb.members(pool))
    same("reads")
    alice.lb.update_load_balancer(lb, name="renamed")
    bumped("load balancer update")
    alice.lb.update_listener(listener, connection_limit=7)
    bumped("listener update")
    alice.lb.update_pool(pool, lb_algorithm="SOURCE_IP")
    bumped("pool update")
    alice.lb.update_member(graph["member"], pool, weight=3)
    bumped("member update")
    alice.lb.update_health_monitor(graph["monitor"], delay=5)
    bumped("monitor update")
    with alice.http() as c:
        assert c.put(f"/lbaas/pools/{pool.id}/members", json={"members": [
            {"address": "10.20.0.31", "protocol_port": 80}]}).status_code == 202
        bumped("batch member update")
        refused = c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb.id, "protocol": "HTTP", "protocol_port": 80}})
        assert refused.status_code == 409
        same("a refused write")
    member = alice.lb.create_member(pool, address="10.20.0.32", protocol_port=80)
    bumped("member create")
    alice.lb.delete_member(member, pool)
    bumped("member delete")
    alice.lb.delete_health_monitor(graph["monitor"])
    bumped("monitor delete")
    second = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=81)
    bumped("listener create")
    other = alice.lb.create_pool(loadbalancer_id=lb.id, protocol="TCP",
                                 lb_algorithm="ROUND_ROBIN")
    bumped("pool create")
    alice.lb.create_member(other, address="10.20.0.33", protocol_port=80)
    bumped("member create on the second pool")
    alice.lb.delete_pool(other)  # its member goes with it
    bumped("pool delete (cascading its member)")
    assert _model(boss, lb.id)["members"] == [m for m in _model(boss, lb.id)["members"]
                                              if m["address"] != "10.20.0.33"]
    alice.lb.delete_listener(second)
    bumped("listener delete")
    assert _report(boss, lb.id, {"revision": seen[-1], "loadbalancer": {
        "provisioning_status": "ACTIVE", "operating_status": "ONLINE"}}) == 204
    same("a status report")
    alice.lb.delete_load_balancer(lb, cascade=True)
    with boss.http() as c:
        assert c.get(f"/astara/loadbalancers/{lb.id}/model").status_code == 404


def test_a_report_of_the_current_revision_sets_every_status_quietly(alice, boss, graph,
                                                                    lb_api):
    lb = graph["lb"]
    model = _model(boss, lb.id)
    before = {k: [(o["id"], o["updated_at"]) for o in model[k]] for k in KINDS}
    start = _outbox_end(lb_api)
    body = {"revision": model["revision"],
            "loadbalancer": {"provisioning_status": "ACTIVE", "operating_status": "ONLINE"},
            "listeners": [{"id": graph["listener"].id, "provisioning_status": "ACTIVE",
                           "operating_status": "ONLINE"}],
            "pools": [{"id": graph["pool"].id, "provisioning_status": "ACTIVE",
                       "operating_status": "DEGRADED"}],
            "members": [{"id": graph["member"].id, "provisioning_status": "ERROR",
                         "operating_status": "ERROR"}],
            "healthmonitors": [{"id": graph["monitor"].id, "provisioning_status": "ACTIVE",
                                "operating_status": "ONLINE"}]}
    assert _report(boss, lb.id, body) == 204
    after = _model(boss, lb.id)
    assert after["revision"] == model["revision"]
    assert (after["loadbalancer"]["provisioning_status"],
            after["loadbalancer"]["operating_status"]) == ("ACTIVE", "ONLINE")
    assert after["loadbalancer"]["updated_at"] == model["loadbalancer"]["updated_at"]
    for kind in KINDS:
        got = {(o["id"], o["provisioning_status"], o["operating_status"])
               for o in after[kind]}
        assert got == {(i["id"], i["provisioning_status"], i["operating_status"])
                       for i in body[kind]}, kind
        assert [(o["id"], o["updated_at"]) for o in after[kind]] == before[kind], kind
    assert _outbox_end(lb_api) == start  # a status report is no notification
    # the tenant sees them through Octavia's API
    assert alice.lb.get_load_balancer(lb.id).provisioning_status == "ACTIVE"
    assert alice.lb.get_member(graph["member"], graph["pool"]).operating_status == "ERROR"


def test_a_stale_report_sets_operating_statuses_only(alice, boss, graph):
    lb, listener = graph["lb"], graph["listener"]
    stale = _model(boss, lb.id)["revision"]
    alice.lb.update_listener(listener, name="changed meanwhile")
    body = {"revision": stale,
            "loadbalancer": {"provisioning_status": "ACTIVE", "operating_status": "ONLINE"},
            "listeners": [{"id": listener.id, "provisioning_status": "ACTIVE",
                           "operating_status": "ONLINE"}]}
    assert _report(boss, lb.id, body) == 204
    after = _model(boss, lb.id)
    assert after["revision"] > stale
    assert (after["loadbalancer"]["provisioning_status"],
            after["loadbalancer"]["operating_status"]) == ("PENDING_CREATE", "ONLINE")
    assert (after["listeners"][0]["provisioning_status"],
            after["listeners"][0]["operating_status"]) == ("PENDING_CREATE", "ONLINE")
    # built now: the current revision's report makes them ACTIVE; a change then is
    # PENDING_UPDATE, and a report of the older revision leaves it so
    body["revision"] = after["revision"]
    assert _report(boss, lb.id, body) == 204
    assert alice.lb.get_listener(listener.id).provisioning_status == "ACTIVE"
    alice.lb.update_listener(listener, name="changed again")
    assert _report(boss, lb.id, body) == 204
    assert alice.lb.get_listener(listener.id).provisioning_status == "PENDING_UPDATE"
    assert alice.lb.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"


def test_ids_not_under_the_load_balancer_are_ignored(alice, boss, graph, subnet):
    lb = graph["lb"]
    other = make_graph(alice, subnet, name="other", protocol="TCP", port=22,
                       member_address="10.20.0.9")
    body = {"revision": _model(boss, lb.id)["revision"],
            "listeners": [{"id": other["listener"].id, "operating_status": "ONLINE"},
                          {"id": "00000000-0000-4000-8000-000000000000",
                           "operating_status": "ONLINE"}],
            "pools": [{"id": other["pool"].id, "provisioning_status": "ACTIVE"}],
            "members": [{"id": other["member"].id, "operating_status": "ONLINE"},
                        {"id": graph["member"].id, "operating_status": "ONLINE"}],
            "healthmonitors": [{"id": other["monitor"].id, "operating_status": "ONLINE"},
                               {"id": other["pool"].id, "operating_status": "ONLINE"}]}
    assert _report(boss, lb.id, body) == 204
    theirs = _model(boss, other["lb"].id)
    assert theirs["listeners"][0]["operating_status"] == "OFFLINE"
    assert theirs["pools"][0]["provisioning_status"] == "PENDING_CREATE"
    assert theirs["members"][0]["operating_status"] == "NO_MONITOR"
    assert theirs["healthmonitors"][0]["operating_status"] == "OFFLINE"
    assert _model(boss, lb.id)["members"][0]["operating_status"] == "ONLINE"


def test_only_an_admin_reaches_them_and_an_unknown_load_balancer_is_404(alice, boss, graph):
    lb = graph["lb"]
    body = {"revision": 1, "loadbalancer": {"provisioning_status": "ACTIVE"}}
    for who in (alice, alice.reader()):
        with who.http() as c:
            for r in (c.get(f"/astara/loadbalancers/{lb.id}/model"),
                      c.put(f"/astara/loadbalancers/{lb.id}/statuses", json=body),
                      c.put(f"/astara/loadbalancers/{lb.id}/statuses", content=b"{")):
                assert r.status_code == 403
                assert r.json() == {"faultcode": "Client", "faultstring": "Policy does not "
                                    "allow this request to be performed.", "debuginfo": None}
    assert alice.lb.get_load_balancer(lb.id).provisioning_status == "PENDING_CREATE"
    missing = "00000000-0000-4000-8000-000000000000"
    with boss.http() as c:
        for r in (c.get(f"/astara/loadbalancers/{missing}/model"),
                  c.put(f"/astara/loadbalancers/{missing}/statuses", json=body)):
            assert r.status_code == 404
            assert r.json()["faultstring"] == f"Load Balancer {missing} not found."
        assert c.get(f"/astara/loadbalancers/{lb.id}/statuses").status_code == 405
        assert c.put(f"/astara/loadbalancers/{lb.id}/model").status_code == 405


BAD_BODIES = [
    [], "x", None, {}, {"revision": "1"}, {"revision": True}, {"revision": 0},
    {"revision": 2**70}, {"revision": 1.5}, {"revision": 1, "bogus": 1},
    {"revision": 1, "loadbalancer": []},
    {"revision": 1, "loadbalancer": {"provisioning_status": "PENDING_UPDATE"}},
    {"revision": 1, "loadbalancer": {"operating_status": "UP"}},
    {"revision": 1, "loadbalancer": {"id": "x"}},
    {"revision": 1, "listeners": {}}, {"revision": 1, "listeners": [1]},
    {"revision": 1, "listeners": [{}]}, {"revision": 1, "pools": [{"id": 7}]},
    {"revision": 1, "pools": [{"id": "a" * 65}]},
    {"revision": 1, "members": [{"id": "a", "weight": 3}]},
    {"revision": 1, "members": [{"id": "a"}, {"id": "a"}]},
    {"revision": 1, "healthmonitors": [{"id": "a", "operating_status": ["ONLINE"]}]},
    {"revision": 1, "members": [{"id": str(i)} for i in range(10_001)]},
]


def test_bad_bodies_are_400_in_octavias_format(boss, graph):
    lb = graph["lb"]
    with boss.http() as c:
        for body in BAD_BODIES:
            r = c.put(f"/astara/loadbalancers/{lb.id}/statuses", json=body)
            assert r.status_code == 400, (body, r.text)
            assert set(r.json()) == {"faultcode", "faultstring", "debuginfo"}, body
        for raw in (b"{", b'{"revision": NaN}', b"[" * 100 + b"]" * 100, b"\xff"):
            r = c.put(f"/astara/loadbalancers/{lb.id}/statuses", content=raw,
                      headers={"Content-Type": "application/json"})
            assert r.status_code == 400, raw
            assert r.json()["faultstring"] == "Request is not in valid JSON format"
    assert _model(boss, lb.id)["loadbalancer"]["provisioning_status"] == "PENDING_CREATE"


def _tree_keys(node: dict) -> dict:
    """The shape of a status tree: each level's keys, children by their first item."""
    out = {}
    for key, value in node.items():
        if isinstance(value, list):
            out[key] = [_tree_keys(value[0])] if value else []
        elif isinstance(value, dict):
            out[key] = _tree_keys(value)
        else:
            out[key] = None
    return out


def test_status_tree_has_octavias_shape_and_scoping(alice, bob, boss, graph):
    lb = graph["lb"]
    assert _report(boss, lb.id, {"revision": _model(boss, lb.id)["revision"],
                                 "loadbalancer": {"provisioning_status": "ACTIVE"},
                                 "healthmonitors": [{"id": graph["monitor"].id,
                                                     "operating_status": "ONLINE"}]}) == 204
    captured = captures.body("031_status_tree", 1)
    response = alice.lb.get(f"/lbaas/loadbalancers/{lb.id}/status")  # the sdk's session
    assert response.status_code == 200
    tree = response.json()
    assert _tree_keys(tree) == _tree_keys(captured)
    node = tree["statuses"]["loadbalancer"]
    assert (node["id"], node["name"], node["provisioning_status"]) == (lb.id, "lb1", "ACTIVE")
    listener = node["listeners"][0]
    assert (listener["id"], listener["name"]) == (graph["listener"].id, "http80")
    pool = listener["pools"][0]
    assert pool["id"] == graph["pool"].id
    assert pool["health_monitor"] == {"id": graph["monitor"].id, "name": "hm-http",
                                      "type": "HTTP", "provisioning_status": "PENDING_CREATE",
                                      "operating_status": "ONLINE"}
    assert pool["members"] == [{"id": graph["member"].id, "name": "m5",
                                "operating_status": "NO_MONITOR",  # made before the monitor
                                "provisioning_status": "PENDING_CREATE",
                                "address": "10.20.0.30", "protocol_port": 8080}]
    alice.lb.delete_health_monitor(graph["monitor"])
    with alice.reader().http() as c:
        pool = c.get(f"/lbaas/loadbalancers/{lb.id}/status").json()[
            "statuses"]["loadbalancer"]["listeners"][0]["pools"][0]
        assert "health_monitor" not in pool  # as Octavia: no key for a pool without one
    with bob.http() as c:
        assert c.get(f"/lbaas/loadbalancers/{lb.id}/status").status_code == 403
    with boss.http() as c:
        assert c.get(f"/lbaas/loadbalancers/{lb.id}/status").status_code == 200
        missing = captures.call("031_status_tree", 2)
        r = c.get(missing["path"].removeprefix("/v2"))
        assert (r.status_code, r.json()) == (missing["status"], missing["response_body"])
    assert json.dumps(tree)  # plain JSON


def test_writes_racing_status_reports_neither_deadlock_nor_fail(alice, boss, graph):
    """Writers (each locking the load balancer, then its children) against reporters
    (the load balancer locked, then every child): on PostgreSQL a lock taken in the
    other order would deadlock (a 503 here); every answer must be a success."""
    import threading

    import httpx

    lb, pool, listener = graph["lb"], graph["pool"], graph["listener"]
    rounds = 15
    start = threading.Barrier(4)
    answers: list[int] = []

    def writer(kind: str) -> None:
        with httpx.Client(base_url=alice.http().base_url, headers=alice.headers,
                          timeout=60) as c:
            start.wait()
            for i in range(rounds):
                if kind == "member":
                    r = c.put(f"/lbaas/pools/{pool.id}/members/{graph['member'].id}",
                              json={"member": {"weight": i + 1}})
                else:
                    r = c.put(f"/lbaas/listeners/{listener.id}",
                              json={"listener": {"connection_limit": i}})
                answers.append(r.status_code)

    def reporter() -> None:
        with httpx.Client(base_url=boss.http().base_url, headers=boss.headers,
                          timeout=60) as c:
            start.wait()
            for _ in range(rounds):
                model = c.get(f"/astara/loadbalancers/{lb.id}/model").json()
                body = {"revision": model["revision"],
                        "loadbalancer": {"provisioning_status": "ACTIVE",
                                         "operating_status": "ONLINE"}}
                for kind in KINDS:
                    body[kind] = [{"id": o["id"], "provisioning_status": "ACTIVE",
                                   "operating_status": "ONLINE"} for o in model[kind]]
                answers.append(c.put(f"/astara/loadbalancers/{lb.id}/statuses",
                                     json=body).status_code)

    threads = [threading.Thread(target=writer, args=("member",)),
               threading.Thread(target=writer, args=("listener",)),
               threading.Thread(target=reporter), threading.Thread(target=reporter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert sorted(set(answers)) == [200, 204], answers
    assert len(answers) == 4 * rounds
    # quiet now: a report of the current revision makes everything ACTIVE
    model = _model(boss, lb.id)
    body = {"revision": model["revision"], "loadbalancer": {"provisioning_status": "ACTIVE"}}
    for kind in KINDS:
        body[kind] = [{"id": o["id"], "provisioning_status": "ACTIVE"} for o in model[kind]]
    assert _report(boss, lb.id, body) == 204
    after = _model(boss, lb.id)
    assert after["revision"] == model["revision"]
    assert {o["provisioning_status"] for k in KINDS for o in after[k]} == {"ACTIVE"}
    assert alice.lb.get_member(graph["member"], pool).weight == rounds
