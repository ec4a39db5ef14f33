"""Load balancers through openstacksdk's ``load_balancer`` proxy: VIP choices, fields and
defaults as the Octavia captures show them, updates while pending, deletes and cascade."""

from __future__ import annotations

import pytest
from openstack import exceptions

from tests.integration.loadbalancer import captures
from tests.integration.loadbalancer.conftest import make_graph


def test_create_on_a_subnet_answers_octavias_fields_and_makes_the_vip_port(alice, subnet):
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="lb1",
                                       description="first lb", tags=["web", "prod"])
    with alice.http() as c:
        raw = c.get(f"/lbaas/loadbalancers/{lb.id}").json()["loadbalancer"]
    assert set(raw) == captures.keys("005_lb_create", 0, "loadbalancer")
    assert raw["provisioning_status"] == "PENDING_CREATE"
    assert raw["operating_status"] == "OFFLINE"
    assert raw["tags"] == ["prod", "web"]
    assert raw["provider"] == "astara"
    assert raw["updated_at"] is None
    assert raw["project_id"] == raw["tenant_id"] == alice.project
    assert raw["vip_subnet_id"] == subnet.id and raw["vip_network_id"] == subnet.network_id
    port = alice.sdk.network.get_port(raw["vip_port_id"])
    assert port.device_owner == "Octavia" and port.device_id == f"lb-{lb.id}"
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": raw["vip_address"]}]


def release(boss, lb_id: str) -> None:
    """The orchestrator's call once the appliance is gone: the kept VIP port goes."""
    with boss.http() as c:
        assert c.delete(f"/astara/loadbalancers/{lb_id}/vip_port").status_code == 204


def test_create_on_a_network_with_an_address_and_on_a_users_port(alice, boss, subnet):
    lb = alice.lb.create_load_balancer(vip_network_id=subnet.network_id,
                                       vip_address="10.20.0.50", is_admin_state_up=False)
    assert (lb.vip_subnet_id, lb.vip_address, lb.is_admin_state_up) == (
        subnet.id, "10.20.0.50", False)
    port = alice.sdk.network.create_port(network_id=subnet.network_id)
    on_port = alice.lb.create_load_balancer(vip_port_id=port.id)
    assert on_port.vip_port_id == port.id
    assert on_port.vip_address == port.fixed_ips[0]["ip_address"]
    alice.lb.delete_load_balancer(on_port.id)
    # the user's port is theirs: left in place; ours goes with its load balancer
    assert alice.sdk.network.get_port(port.id).id == port.id
    alice.lb.delete_load_balancer(lb.id)
    # ours is kept (its address with it) until its appliance is gone, then deleted
    assert alice.sdk.network.get_port(lb.vip_port_id).fixed_ips[0]["ip_address"] == \
        "10.20.0.50"
    release(boss, lb.id)
    assert alice.sdk.network.find_port(lb.vip_port_id) is None


def test_the_same_address_twice_is_the_network_apis_conflict(alice, subnet):
    alice.lb.create_load_balancer(vip_subnet_id=subnet.id, vip_address="10.20.0.60")
    with alice.http() as c:
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet.id, "vip_address": "10.20.0.60"}})
    assert r.status_code == 409
    assert "10.20.0.60" in r.json()["faultstring"]


def test_create_errors_answer_as_octavia(alice, subnet):
    uuid_ = "11111111-1111-4111-8111-111111111111"
    cases = [
        (0, {"loadbalancer": {"name": "x"}}),
        (1, {"loadbalancer": {"vip_subnet_id": uuid_, "bogus_field": 1}}),
        (2, {"loadbalancer": {"vip_subnet_id": uuid_, "admin_state_up": "notabool"}}),
        (3, {"loadbalancer": {"vip_subnet_id": "not-a-uuid"}}),
        (4, {"loadbalancer": {"vip_subnet_id": uuid_, "provider": "bogus"}}),
        (5, captures.call("007_lb_create_errors", 5)["request_body"]),
        (7, {"vip_subnet_id": uuid_}),
        (9, {"loadbalancer": {"vip_subnet_id": uuid_, "vip_address": "999.1.1.1"}}),
        (10, {"loadbalancer": {"vip_subnet_id": uuid_, "flavor_id": uuid_}}),
    ]
    with alice.http() as c:
        for index, body in cases:
            r = c.post("/lbaas/loadbalancers", json=body)
            assert (r.status_code, r.json()) == (
                captures.call("007_lb_create_errors", index)["status"],
                captures.body("007_lb_create_errors", index)), index
        r = c.post("/lbaas/loadbalancers", content=b'{"loadbalancer": {',
                   headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()) == (400, captures.body("007_lb_create_errors", 6))
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet.id, "project_id": "someone-else"}})
        assert (r.status_code, r.json()) == (403, captures.body("007_lb_create_errors", 8))
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": uuid_}})
        assert r.status_code == 400
        assert r.json()["faultstring"] == f"Subnet {uuid_} not found."


def test_a_subnet_of_another_project_is_not_found(alice, bob, subnet):
    with bob.http() as c:
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet.id}})
    assert (r.status_code, r.json()["faultstring"]) == (400, f"Subnet {subnet.id} not found.")


def test_a_pending_load_balancer_takes_every_change(alice, subnet):
    """Deliberately unlike Octavia (capture 010 answers 409 while PENDING_UPDATE)."""
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="lb1")
    lb = alice.lb.update_load_balancer(lb, name="lb1-renamed", description="updated")
    assert (lb.name, lb.description, lb.provisioning_status) == (
        "lb1-renamed", "updated", "PENDING_CREATE")
    lb = alice.lb.update_load_balancer(lb, description="again", tags=["v2", "web"])
    assert (lb.description, lb.tags) == ("again", ["v2", "web"])
    assert lb.updated_at is not None
    with alice.http() as c:
        for index in (3, 4, 5):
            req = captures.call("010_lb_update_and_409_pending", index)["request_body"]
            r = c.put(f"/lbaas/loadbalancers/{lb.id}", json=req)
            expected = captures.body("010_lb_update_and_409_pending", index)
            assert (r.status_code, r.json()) == (400, expected), index
    alice.lb.delete_load_balancer(lb.id)
    assert alice.lb.find_load_balancer(lb.id) is None


def test_a_built_object_goes_pending_update_on_change(alice, subnet, lb_api):
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id)
    # What the orchestrator will do once it has built it (no driver yet: by hand).
    from sqlalchemy import update

    from astara.loadbalancer_service import models as m
    db = lb_api_service(lb_api).db
    with db.write() as s:
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb.id)
                  .values(provisioning_status="ACTIVE"))
    assert alice.lb.get_load_balancer(lb.id).provisioning_status == "ACTIVE"
    lb = alice.lb.update_load_balancer(lb, name="changed")
    assert lb.provisioning_status == "PENDING_UPDATE"
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP",
                                        protocol_port=22)
    assert listener.provisioning_status == "PENDING_CREATE"
    assert alice.lb.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"


def lb_api_service(server):
    return server._server.config.app.state.service


def test_delete_with_children_needs_cascade_and_cascade_leaves_nothing(alice, boss, subnet):
    made = make_graph(alice, subnet)
    lb, listener, pool, member, monitor = (made[k] for k in ("lb", "listener", "pool",
                                                             "member", "monitor"))
    with alice.http() as c:
        for query in ("", "?cascade=false"):
            r = c.delete(f"/lbaas/loadbalancers/{lb.id}{query}")
            assert r.status_code == 400
            assert r.json()["faultstring"] == captures.body(
                "041_delete_lb_without_cascade", 0)["faultstring"].replace(
                "9a715013-2cf3-4a61-9b79-666b36385b86", lb.id)
    alice.lb.delete_load_balancer(lb.id, cascade=True)
    assert alice.lb.find_load_balancer(lb.id) is None
    assert alice.lb.find_listener(listener.id) is None
    assert alice.lb.find_pool(pool.id) is None
    assert alice.lb.find_health_monitor(monitor.id) is None
    release(boss, lb.id)
    assert alice.sdk.network.find_port(lb.vip_port_id) is None
    with alice.http() as c:
        r = c.get(f"/lbaas/pools/{pool.id}/members/{member.id}")
        assert (r.status_code, r.json()["faultstring"]) == (404, f"Pool {pool.id} not found.")
        r = c.delete(f"/lbaas/loadbalancers/{lb.id}?cascade=true")
        assert (r.status_code, r.json()["faultstring"]) == (
            404, f"Load Balancer {lb.id} not found.")


def test_update_of_a_missing_one_is_not_found(alice):
    with pytest.raises(exceptions.NotFoundException):
        alice.lb.update_load_balancer("00000000-0000-4000-8000-000000000000", name="x")
