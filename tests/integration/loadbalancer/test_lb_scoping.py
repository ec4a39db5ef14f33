"""Octavia's default policies: a member reads and writes its own project's objects,
another project's answer 403, a reader reads only, an admin sees all, no identity is 403."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.loadbalancer import captures

FORBIDDEN = captures.body("009_project_isolation", 0)


@pytest.fixture
def tree(alice, subnet):
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="lb1")
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                        protocol_port=80)
    pool = alice.lb.create_pool(listener_id=listener.id, protocol="HTTP",
                                lb_algorithm="ROUND_ROBIN")
    member = alice.lb.create_member(pool, address="10.20.0.30", protocol_port=80)
    monitor = alice.lb.create_health_monitor(pool_id=pool.id, type="PING", delay=3,
                                             timeout=1, max_retries=2)
    return {"loadbalancers": lb.id, "listeners": listener.id, "pools": pool.id,
            "healthmonitors": monitor.id, "member": member.id}


def test_another_projects_objects_answer_403_and_are_not_listed(alice, bob, tree):
    with bob.http() as c:
        for plural in ("loadbalancers", "listeners", "pools", "healthmonitors"):
            url = f"/lbaas/{plural}/{tree[plural]}"
            for method, body in (("GET", None), ("PUT", {plural[:-1]: {"name": "hijack"}}),
                                 ("DELETE", None)):
                r = c.request(method, url, json=body)
                assert (r.status_code, r.json()) == (403, FORBIDDEN), (method, url)
            listed = c.get(f"/lbaas/{plural}").json()
            assert listed == {plural: [], f"{plural}_links": []}
        member_url = f"/lbaas/pools/{tree['pools']}/members/{tree['member']}"
        for method in ("GET", "PUT", "DELETE"):
            r = c.request(method, member_url, json={"member": {"weight": 2}})
            assert (r.status_code, r.json()) == (403, FORBIDDEN), method
        r = c.get(f"/lbaas/pools/{tree['pools']}/members")
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        r = c.get("/lbaas/loadbalancers", params={"project_id": alice.project})
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        r = c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": tree["loadbalancers"], "protocol": "HTTP",
            "protocol_port": 8080}})
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
    assert alice.lb.get_load_balancer(tree["loadbalancers"]).name == "lb1"


def test_a_reader_reads_and_cannot_write(alice, tree, subnet):
    reader = alice.reader()
    assert reader.lb.get_load_balancer(tree["loadbalancers"]).name == "lb1"
    assert [p.id for p in reader.lb.pools()] == [tree["pools"]]
    with reader.http() as c:
        r = c.put(f"/lbaas/loadbalancers/{tree['loadbalancers']}",
                  json={"loadbalancer": {"name": "reader-edit"}})
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet.id}})
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        r = c.delete(f"/lbaas/pools/{tree['pools']}/members/{tree['member']}")
        assert r.status_code == 403


def test_an_admin_sees_and_filters_every_project(alice, bob, boss, tree):
    assert boss.lb.get_load_balancer(tree["loadbalancers"]).project_id == alice.project
    mine = [lb.id for lb in boss.lb.load_balancers(project_id=alice.project)]
    assert mine == [tree["loadbalancers"]]
    assert tree["listeners"] in [x.id for x in boss.lb.listeners()]
    pool = boss.lb.update_pool(tree["pools"], name="by-admin")
    assert pool.name == "by-admin"


def test_an_admin_makes_one_for_a_project(alice, boss, subnet):
    lb = boss.lb.create_load_balancer(vip_subnet_id=subnet.id, project_id=alice.project)
    assert lb.project_id == alice.project
    assert alice.sdk.network.get_port(lb.vip_port_id).project_id == alice.project
    assert [x.id for x in alice.lb.load_balancers()] == [lb.id]


def test_no_identity_or_no_role_is_refused(lb_api, alice, tree):
    with httpx.Client(base_url=f"{lb_api.url}/v2") as c:
        r = c.get("/lbaas/loadbalancers")
        assert (r.status_code, r.json()) == (403, captures.body("001_versions_root", 3))
        r = c.get("/lbaas/loadbalancers", headers={"X-Project-Id": alice.project,
                                                    "X-Roles": "observer"})
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        assert c.get(f"{lb_api.url}/").status_code == 200  # versions need no identity


def test_another_projects_children_and_ports_cannot_be_reached_through_ours(
        alice, bob, tree, subnet):
    """Each way of naming alice's objects from bob's requests: 403 (or "not found" for
    her VIP port, which bob cannot see), and nothing of hers changes."""
    bob_net = bob.sdk.network.create_network(name="bob-net")
    bob_sub = bob.sdk.network.create_subnet(network_id=bob_net.id, cidr="10.30.0.0/24",
                                            ip_version=4)
    alice_lb = alice.lb.get_load_balancer(tree["loadbalancers"])
    with bob.http() as c:
        attempts = [
            ("POST", "/lbaas/pools", {"pool": {"listener_id": tree["listeners"],
                                               "protocol": "HTTP",
                                               "lb_algorithm": "ROUND_ROBIN"}}),
            ("POST", "/lbaas/healthmonitors", {"healthmonitor": {
                "pool_id": tree["pools"], "type": "TCP", "delay": 3, "timeout": 1,
                "max_retries": 2}}),
            # refused for the pool before any subnet lookup (alice's: bob cannot see it)
            ("POST", f"/lbaas/pools/{tree['pools']}/members", {"member": {
                "address": "10.20.0.9", "protocol_port": 80, "subnet_id": subnet.id}}),
            ("PUT", f"/lbaas/pools/{tree['pools']}/members", {"members": [
                {"address": "10.20.0.9", "protocol_port": 80, "subnet_id": subnet.id}]}),
        ]
        for method, url, body in attempts:
            r = c.request(method, url, json=body)
            assert (r.status_code, r.json()) == (403, FORBIDDEN), (method, url)
        bob_lb = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": bob_sub.id}}).json()["loadbalancer"]
        r = c.put(f"/lbaas/listeners/{tree['listeners']}", json={"listener": {
            "default_pool_id": tree["pools"]}})
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        # alice's VIP port: bob cannot see it, so it is "not found", not "in use"
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_port_id": alice_lb.vip_port_id}})
        assert r.status_code == 400 and "already" not in r.json()["faultstring"], r.json()
        assert bob_lb["vip_port_id"] != alice_lb.vip_port_id
    with alice.http() as c:
        pool = c.get(f"/lbaas/pools/{tree['pools']}").json()["pool"]
    assert [m["id"] for m in pool["members"]] == [tree["member"]]
    assert pool["healthmonitor_id"] == tree["healthmonitors"]
