"""The VIP port of a deleted load balancer: kept, with its address, until the
orchestrator (having seen the appliance gone) releases it; listed for a restarted
orchestrator; admin only; Octavia's fault format."""

from __future__ import annotations

from sqlalchemy import select

from astara.loadbalancer_service import models as m


def _service(server):
    return server._server.config.app.state.service


def test_the_address_is_not_given_again_until_the_port_is_released(alice, boss, subnet,
                                                                    lb_api):
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, vip_address="10.20.0.77")
    with boss.http() as c:  # in use: nothing to release yet
        r = c.delete(f"/astara/loadbalancers/{lb.id}/vip_port")
        assert r.status_code == 409 and "still exists" in r.json()["faultstring"]
    alice.lb.delete_load_balancer(lb.id)

    with boss.http() as c:
        kept = c.get("/astara/vip_ports").json()["vip_ports"]
    assert {"port_id": lb.vip_port_id, "loadbalancer_id": lb.id,
            "project_id": alice.project} in kept
    # The old appliance may still answer on 10.20.0.77: no one else gets it meanwhile.
    with alice.http() as c:
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet.id, "vip_address": "10.20.0.77"}})
    assert r.status_code == 409, r.text
    assert alice.sdk.network.get_port(lb.vip_port_id).device_id == f"lb-{lb.id}"

    with alice.http() as c:  # only the orchestrator (an admin) sees or releases them
        assert c.get("/astara/vip_ports").status_code == 403
        r = c.delete(f"/astara/loadbalancers/{lb.id}/vip_port")
        assert r.status_code == 403 and set(r.json()) == {"faultcode", "faultstring",
                                                           "debuginfo"}
    with boss.http() as c:
        assert c.delete(f"/astara/loadbalancers/{lb.id}/vip_port").status_code == 204
        assert c.delete(f"/astara/loadbalancers/{lb.id}/vip_port").status_code == 204
        assert lb.id not in {p["loadbalancer_id"]
                             for p in c.get("/astara/vip_ports").json()["vip_ports"]}
    assert alice.sdk.network.find_port(lb.vip_port_id) is None
    again = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, vip_address="10.20.0.77")
    assert again.vip_address == "10.20.0.77"
    alice.lb.delete_load_balancer(again.id)


def test_a_refused_deletion_is_kept_and_retried(alice, boss, subnet, lb_api, monkeypatch):
    service = _service(lb_api)
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id)
    alice.lb.delete_load_balancer(lb.id)
    real = service.network.delete_port

    def refuse(caller, port_id):
        raise RuntimeError("the network service refused")

    monkeypatch.setattr(service.network, "delete_port", refuse)
    with boss.http() as c:
        r = c.delete(f"/astara/loadbalancers/{lb.id}/vip_port")
    assert r.status_code == 409 and "retry it" in r.json()["faultstring"]
    with service.db.read() as s:  # still recorded: the orchestrator's retry finds it
        assert s.scalar(select(m.VipRelease.port_id)
                        .where(m.VipRelease.loadbalancer_id == lb.id)) == lb.vip_port_id
    monkeypatch.setattr(service.network, "delete_port", real)
    with boss.http() as c:
        assert c.delete(f"/astara/loadbalancers/{lb.id}/vip_port").status_code == 204
    assert alice.sdk.network.find_port(lb.vip_port_id) is None


def test_a_users_own_port_is_never_recorded(alice, boss, subnet):
    port = alice.sdk.network.create_port(network_id=subnet.network_id)
    lb = alice.lb.create_load_balancer(vip_port_id=port.id)
    alice.lb.delete_load_balancer(lb.id)
    with boss.http() as c:
        kept = c.get("/astara/vip_ports").json()["vip_ports"]
        assert lb.id not in {p["loadbalancer_id"] for p in kept}
        assert c.delete(f"/astara/loadbalancers/{lb.id}/vip_port").status_code == 204
    assert alice.sdk.network.get_port(port.id).id == port.id
