"""Every write of the load-balancer API queues its neutron-lbaas notification in the
outbox, in the same transaction; a refused write queues nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from astara.bus.outbox import OutboxRow


def _service(server):
    return server._server.config.app.state.service


def _since(lb_api, position: int) -> list[dict]:
    with _service(lb_api).db.read() as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.id > position)
                         .order_by(OutboxRow.id))
        return [json.loads(r.body) for r in rows]


def _position(lb_api) -> int:
    with _service(lb_api).db.read() as s:
        return s.scalar(select(func.max(OutboxRow.id))) or 0


def test_each_write_queues_its_event(alice, subnet, lb_api):
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id)
    start = _position(lb_api)
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                        protocol_port=80)
    pool = alice.lb.create_pool(listener_id=listener.id, protocol="HTTP",
                                lb_algorithm="ROUND_ROBIN")
    member = alice.lb.create_member(pool, address="10.20.0.7", protocol_port=80)
    alice.lb.update_member(member, pool, weight=3)
    monitor = alice.lb.create_health_monitor(pool_id=pool.id, type="TCP", delay=2, timeout=1,
                                             max_retries=2)
    alice.lb.update_load_balancer(lb, name="renamed")
    alice.lb.delete_health_monitor(monitor)
    alice.lb.delete_member(member, pool)
    alice.lb.delete_load_balancer(lb, cascade=True)
    mine = [m for m in _since(lb_api, start)
            if m["event_type"].split(".")[0] in ("loadbalancer", "listener", "pool", "member",
                                                 "healthmonitor")]
    assert [m["event_type"] for m in mine] == [
        "listener.create.end", "pool.create.end", "member.create.end", "member.update.end",
        "healthmonitor.create.end", "loadbalancer.update.end", "healthmonitor.delete.end",
        "member.delete.end", "loadbalancer.delete.end"]
    assert mine[0]["payload"]["listener"]["id"] == listener.id
    assert mine[0]["payload"]["loadbalancer_id"] == lb.id
    assert mine[3]["payload"]["member"]["weight"] == 3
    assert mine[5]["payload"]["loadbalancer"]["name"] == "renamed"
    assert mine[-1]["payload"] == {"loadbalancer_id": lb.id}
    assert all(m["_context_project_id"] == alice.project and m["priority"] == "INFO"
               for m in mine)


def test_a_create_queues_one_event_and_a_refused_write_none(alice, subnet, lb_api):
    start = _position(lb_api)
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="n")
    events = [m for m in _since(lb_api, start) if m["event_type"].startswith("loadbalancer.")]
    assert [(m["event_type"], m["payload"]["loadbalancer"]["id"]) for m in events] == [
        ("loadbalancer.create.end", lb.id)]
    start = _position(lb_api)
    with alice.http() as c:
        assert c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb.id, "protocol": "FOO", "protocol_port": 1}}).status_code == 400
        c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb.id, "protocol": "TCP", "protocol_port": 1}})
        assert c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb.id, "protocol": "TCP", "protocol_port": 1}}).status_code == 409
    assert [m["event_type"] for m in _since(lb_api, start)] == ["listener.create.end"]
