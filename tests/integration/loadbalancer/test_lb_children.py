"""Listeners, pools, members (one by one and in a batch) and health monitors through
openstacksdk, with the fields, defaults, conflicts and errors of the Octavia captures."""

from __future__ import annotations

import pytest

from tests.integration.loadbalancer import captures

CAPTURED_LB = "9a715013-2cf3-4a61-9b79-666b36385b86"
CAPTURED_POOL = "ae4b2fd0-2cb8-46e2-b596-9069a1ae680e"


@pytest.fixture
def lb(alice, subnet):
    return alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="lb1")


def _sent(step: str, index: int, **ids) -> dict:
    """The request body of a capture, with the captured ids replaced by ours."""
    body = captures.call(step, index)["request_body"]
    text = str(body)
    for old, new in ids.items():
        text = text.replace(old, new)
    import ast
    return ast.literal_eval(text)


def test_listener_fields_defaults_and_update(alice, lb):
    sent = _sent("011_listener_create_http80", 0, **{CAPTURED_LB: lb.id})
    with alice.http() as c:
        raw = c.post("/lbaas/listeners", json=sent).json()["listener"]
    expected = captures.body("011_listener_create_http80", 0)["listener"]
    assert set(raw) == set(expected)
    same = {k: v for k, v in expected.items()
            if k not in ("id", "project_id", "tenant_id", "created_at", "loadbalancers")}
    assert {k: raw[k] for k in same} == same
    listener = alice.lb.update_listener(raw["id"], connection_limit=5,
                                        timeout_client_data=1000, allowed_cidrs=["10.0.0.0/8"])
    assert (listener.connection_limit, listener.timeout_client_data, listener.allowed_cidrs) \
        == (5, 1000, ["10.0.0.0/8"])
    assert [x["id"] for x in alice.lb.get_load_balancer(lb.id).listeners] == [raw["id"]]
    alice.lb.delete_listener(raw["id"])
    assert alice.lb.find_listener(raw["id"]) is None


def test_listener_errors_answer_as_octavia(alice, lb):
    alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    with alice.http() as c:
        for index in range(10):
            sent = _sent("013_listener_errors", index, **{CAPTURED_LB: lb.id})
            r = c.post("/lbaas/listeners", json=sent)
            status, message = captures.fault("013_listener_errors", index)
            message = message.replace(CAPTURED_LB, lb.id)
            if "Value: '{" in message:  # WSME names the whole body: compare the reason
                assert r.status_code == status, index
                assert r.json()["faultstring"].endswith(message.rsplit("'. ", 1)[1]), index
                continue
            assert (r.status_code, r.json()["faultstring"]) == (status, message), index


def test_pool_algorithms_and_persistence(alice, lb):
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                        protocol_port=80)
    pool = alice.lb.create_pool(listener_id=listener.id, protocol="HTTP", name="pool-rr",
                                lb_algorithm="ROUND_ROBIN",
                                session_persistence={"type": "HTTP_COOKIE"})
    with alice.http() as c:
        raw = c.get(f"/lbaas/pools/{pool.id}").json()["pool"]
    expected = captures.body("014_pool_create_round_robin", 0)["pool"]
    assert set(raw) == set(expected)
    assert raw["session_persistence"] == expected["session_persistence"]
    assert raw["listeners"] == [{"id": listener.id}]
    assert raw["loadbalancers"] == [{"id": lb.id}]
    assert alice.lb.get_listener(listener.id).default_pool_id == pool.id
    tcp = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=443)
    lc = alice.lb.create_pool(listener_id=tcp.id, protocol="TCP",
                              lb_algorithm="LEAST_CONNECTIONS",
                              session_persistence={"type": "SOURCE_IP"})
    sip = alice.lb.create_pool(loadbalancer_id=lb.id, protocol="HTTP", lb_algorithm="SOURCE_IP",
                               session_persistence={"type": "APP_COOKIE",
                                                    "cookie_name": "JSESSIONID"})
    assert (lc.lb_algorithm, sip.session_persistence["cookie_name"]) == (
        "LEAST_CONNECTIONS", "JSESSIONID")
    assert sip.listeners == []
    sip = alice.lb.update_pool(sip, lb_algorithm="ROUND_ROBIN", session_persistence=None)
    assert (sip.lb_algorithm, sip.session_persistence) == ("ROUND_ROBIN", None)
    # a listener takes a pool of its load balancer as its default
    other = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=81,
                                     default_pool_id=sip.id)
    assert other.default_pool_id == sip.id
    alice.lb.delete_pool(sip.id)
    assert alice.lb.get_listener(other.id).default_pool_id is None


def test_pool_errors_answer_as_octavia(alice, lb):
    http = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    tcp = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=443)
    alice.lb.create_pool(listener_id=http.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    ids = {CAPTURED_LB: lb.id, "e155d1e2-b3c7-4aeb-8bb5-8791535ebc1b": http.id,
           "bbd283db-fe03-44ed-a2a4-afdca64b72ea": tcp.id}
    with alice.http() as c:
        for index in range(6):
            r = c.post("/lbaas/pools", json=_sent("017_pool_errors", index, **ids))
            assert (r.status_code, r.json()["faultstring"]) == captures.fault(
                "017_pool_errors", index), index
        # UDP is Octavia's, not ours yet: refused as an option the provider lacks
        r = c.post("/lbaas/pools", json={"pool": {"loadbalancer_id": lb.id, "protocol": "UDP",
                                                  "lb_algorithm": "ROUND_ROBIN"}})
        assert r.status_code == 400 and "not yet" in r.json()["faultstring"]


@pytest.fixture
def pool(alice, lb):
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                        protocol_port=80)
    return alice.lb.create_pool(listener_id=listener.id, protocol="HTTP",
                                lb_algorithm="ROUND_ROBIN")


def test_members_create_update_delete(alice, pool, subnet):
    m1 = alice.lb.create_member(pool, address="192.0.2.10", protocol_port=8080, name="m1",
                                weight=1, subnet_id=subnet.id)
    with alice.http() as c:
        raw = c.post(f"/lbaas/pools/{pool.id}/members", json={"member": {
            "name": "m2", "address": "192.0.2.11", "protocol_port": 8080, "backup": True,
            "monitor_address": "192.0.2.111", "monitor_port": 9090, "tags": ["blue"]}}
        ).json()["member"]
    expected = captures.body("018_member_create", 1)["member"]
    assert set(raw) == set(expected)
    same = {k: v for k, v in expected.items()
            if k not in ("id", "project_id", "tenant_id", "created_at")}
    assert {k: raw[k] for k in same} == same
    m1 = alice.lb.update_member(m1, pool, is_admin_state_up=False, weight=5)
    assert (m1.is_admin_state_up, m1.weight, m1.provisioning_status) == (
        False, 5, "PENDING_CREATE")
    assert sorted(m.id for m in alice.lb.members(pool)) == sorted([m1.id, raw["id"]])
    assert [m.name for m in alice.lb.members(pool, weight=5)] == ["m1"]
    assert sorted(x["id"] for x in alice.lb.get_pool(pool.id).members) == sorted(
        [m1.id, raw["id"]])
    alice.lb.delete_member(m1, pool)
    assert [m.id for m in alice.lb.members(pool)] == [raw["id"]]


def test_member_errors_answer_as_octavia(alice, bob, pool):
    alice.lb.create_member(pool, address="192.0.2.10", protocol_port=8080)
    with alice.http() as c:
        for index in range(5):
            body = captures.call("020_member_errors", index)["request_body"]
            r = c.post(f"/lbaas/pools/{pool.id}/members", json=body)
            assert (r.status_code, r.json()["faultstring"]) == captures.fault(
                "020_member_errors", index), index
        missing = "00000000-0000-4000-8000-000000000000"
        r = c.post(f"/lbaas/pools/{missing}/members",
                   json=captures.call("020_member_errors", 6)["request_body"])
        assert (r.status_code, r.json()) == (404, captures.body("020_member_errors", 6))
        r = c.delete(f"/lbaas/pools/{pool.id}/members")
        assert (r.status_code, r.json()) == (400, captures.body("022_member_delete", 0))
    with bob.http() as c:
        r = c.post(f"/lbaas/pools/{pool.id}/members",
                   json=captures.call("020_member_errors", 5)["request_body"])
        assert (r.status_code, r.json()) == (403, captures.body("020_member_errors", 5))


def test_member_batch_update(alice, pool):
    m1 = alice.lb.create_member(pool, address="192.0.2.10", protocol_port=8080, name="m1")
    with alice.http() as c:
        sent = captures.call("021_member_batch_update", 0)["request_body"]
        sent["members"][0].pop("subnet_id")
        r = c.put(f"/lbaas/pools/{pool.id}/members", json=sent)
        assert (r.status_code, r.content) == (202, b"")
        found = {(m.address, m.protocol_port): m for m in alice.lb.members(pool)}
        assert set(found) == {("192.0.2.10", 8080), ("192.0.2.20", 8080), ("192.0.2.21", 8081)}
        assert found[("192.0.2.10", 8080)].id == m1.id  # matched: updated in place
        assert found[("192.0.2.10", 8080)].weight == 7
        r = c.put(f"/lbaas/pools/{pool.id}/members", json={"members": []})
        assert r.status_code == 202
        assert list(alice.lb.members(pool)) == []
        c.put(f"/lbaas/pools/{pool.id}/members", json={"members": [
            {"address": "192.0.2.1", "protocol_port": 80}]})
        r = c.put(f"/lbaas/pools/{pool.id}/members?additive_only=true",
                  json=captures.call("021_member_batch_update", 4)["request_body"])
        assert r.status_code == 202
        assert sorted(m.address for m in alice.lb.members(pool)) == ["192.0.2.1", "192.0.2.30"]
        r = c.put(f"/lbaas/pools/{pool.id}/members",
                  json=captures.call("021_member_batch_update", 6)["request_body"])
        assert (r.status_code, r.json()) == (400, captures.body("021_member_batch_update", 6))
        assert len(list(alice.lb.members(pool))) == 2  # nothing changed


def test_health_monitors(alice, pool, lb):
    sent = captures.call("023_healthmonitor_http", 3)["request_body"]
    sent["healthmonitor"]["pool_id"] = pool.id
    with alice.http() as c:
        raw = c.post("/lbaas/healthmonitors", json=sent).json()["healthmonitor"]
    expected = captures.body("023_healthmonitor_http", 3)["healthmonitor"]
    assert set(raw) == set(expected)
    same = {k: v for k, v in expected.items()
            if k not in ("id", "project_id", "tenant_id", "created_at", "pools")}
    assert {k: raw[k] for k in same} == same
    assert alice.lb.get_pool(pool.id).health_monitor_id == raw["id"]
    monitor = alice.lb.update_health_monitor(raw["id"], delay=2, timeout=3)
    assert (monitor.delay, monitor.timeout) == (2, 3)
    monitor = alice.lb.update_health_monitor(raw["id"], delay=6)  # no 409 while pending
    assert monitor.delay == 6
    alice.lb.delete_health_monitor(raw["id"])
    tcp = alice.lb.create_health_monitor(pool_id=pool.id, type="TCP", delay=10, timeout=5,
                                         max_retries=4, name="hm-tcp")
    expected = captures.body("024_healthmonitor_tcp", 0)["healthmonitor"]
    assert (tcp.http_method, tcp.url_path, tcp.expected_codes, tcp.max_retries_down) == (
        expected["http_method"], expected["url_path"], expected["expected_codes"], 3)


def test_health_monitor_errors_answer_as_octavia(alice, pool):
    with alice.http() as c:
        c.post("/lbaas/healthmonitors", json={"healthmonitor": {
            "pool_id": pool.id, "type": "HTTP", "delay": 1, "timeout": 5, "max_retries": 3}})
        for index in range(6):
            sent = captures.call("026_healthmonitor_errors", index)["request_body"]
            sent["healthmonitor"]["pool_id"] = pool.id
            r = c.post("/lbaas/healthmonitors", json=sent)
            assert (r.status_code, r.json()["faultstring"]) == captures.fault(
                "026_healthmonitor_errors", index), index
        other = alice.lb.create_pool(loadbalancer_id=pool.loadbalancers[0]["id"],
                                     protocol="TCP", lb_algorithm="ROUND_ROBIN")
        tcp = alice.lb.create_health_monitor(pool_id=other.id, type="TCP", delay=10,
                                             timeout=5, max_retries=4)
        r = c.put(f"/lbaas/healthmonitors/{tcp.id}", json={"healthmonitor": {"url_path": "/x"}})
        assert (r.status_code, r.json()["faultstring"]) == captures.fault(
            "026_healthmonitor_errors", 6)


def test_a_monitor_keeping_its_domain_name_cannot_go_to_http_1_0(alice, pool):
    """The check looks at what the monitor keeps, not only at what the request says."""
    with alice.http() as c:  # raw: openstacksdk's monitor drops domain_name
        hm = c.post("/lbaas/healthmonitors", json={"healthmonitor": {
            "pool_id": pool.id, "type": "HTTP", "delay": 3, "timeout": 1, "max_retries": 2,
            "http_version": 1.1, "domain_name": "example.org"}}).json()["healthmonitor"]
        assert hm["domain_name"] == "example.org"
        r = c.put(f"/lbaas/healthmonitors/{hm['id']}",
                  json={"healthmonitor": {"http_version": 1.0}})
        assert r.status_code == 400, r.json()
        assert "domain_name" in r.json()["faultstring"]
        r = c.put(f"/lbaas/healthmonitors/{hm['id']}",
                  json={"healthmonitor": {"http_version": 1.0, "domain_name": None}})
        assert r.status_code == 200, r.json()
        got = c.get(f"/lbaas/healthmonitors/{hm['id']}").json()["healthmonitor"]
    assert (got["http_version"], got["domain_name"]) == (1.0, None)


def test_a_port_is_the_vip_of_one_load_balancer_only(alice, subnet):
    port = alice.sdk.network.create_port(network_id=subnet.network_id)
    first = alice.lb.create_load_balancer(vip_port_id=port.id)
    with alice.http() as c:
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {"vip_port_id": port.id}})
    assert r.status_code == 409 and "already the VIP" in r.json()["faultstring"]
    assert [lb.id for lb in alice.lb.load_balancers()] == [first.id]
