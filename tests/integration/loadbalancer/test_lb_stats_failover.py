"""Statistics (``GET .../loadbalancers|listeners/{id}/stats``, fed by the orchestrator's
status reports) and failover (``PUT .../loadbalancers/{id}/failover``), through
openstacksdk and raw HTTP, against captures 032 and 035."""

from __future__ import annotations

import json

import openstack.exceptions
import pytest
from sqlalchemy import func, select

from astara.bus.outbox import OutboxRow
from astara.loadbalancer_service import models as m
from tests.integration.loadbalancer import captures
from tests.integration.loadbalancer.conftest import make_graph

FIVE = captures.keys("032_stats", 0, "stats")
FORBIDDEN = captures.body("035_failover", 1)


def _service(server):
    return server._server.config.app.state.service


def _outbox(lb_api, after: int = 0) -> list[dict]:
    with _service(lb_api).db.read() as s:
        return [json.loads(r.body) for r in s.scalars(
            select(OutboxRow).where(OutboxRow.id > after).order_by(OutboxRow.id))]


def _outbox_end(lb_api) -> int:
    with _service(lb_api).db.read() as s:
        return s.scalar(select(func.max(OutboxRow.id))) or 0


def _model(boss, lb_id: str) -> dict:
    with boss.http() as c:
        r = c.get(f"/astara/loadbalancers/{lb_id}/model")
    assert r.status_code == 200, r.text
    return r.json()


def _report(boss, lb_id: str, epoch: str | None, stats: dict[str, dict],
            revision: int | None = None) -> int:
    body: dict = {"revision": revision or _model(boss, lb_id)["revision"],
                  "listeners": [{"id": k, "operating_status": "ONLINE", "stats": v}
                                for k, v in stats.items()]}
    if epoch is not None:
        body["stats_epoch"] = epoch
    with boss.http() as c:
        return c.put(f"/astara/loadbalancers/{lb_id}/statuses", json=body).status_code


def _c(bytes_in=0, bytes_out=0, active=0, total=0, errors=0) -> dict:
    return {"bytes_in": bytes_in, "bytes_out": bytes_out, "active_connections": active,
            "total_connections": total, "request_errors": errors}


def _sdk_stats(stats) -> dict:
    return {k: getattr(stats, k) for k in FIVE}


@pytest.fixture
def graph(alice, subnet):
    return make_graph(alice, subnet)


def test_a_new_load_balancer_and_listener_show_octavias_zeros(alice, graph):
    lb, listener = graph["lb"], graph["listener"]
    with alice.http() as c:
        for path, index in ((f"loadbalancers/{lb.id}", 0), (f"listeners/{listener.id}", 1)):
            r = c.get(f"/lbaas/{path}/stats")
            assert (r.status_code, r.json()) == (200, captures.body("032_stats", index))
    assert _sdk_stats(alice.lb.get_load_balancer_statistics(lb.id)) == _c()
    assert _sdk_stats(alice.lb.get_listener_statistics(listener.id)) == _c()


def test_reported_counters_add_up_over_haproxy_restarts(alice, boss, graph, lb_api):
    lb, first = graph["lb"], graph["listener"]
    second = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP",
                                      protocol_port=22)
    model = _model(boss, lb.id)
    assert _report(boss, lb.id, "vm1/100", {first.id: _c(100, 1000, 3, 10, 1),
                                            second.id: _c(5, 6, 1, 2, 0)}) == 204
    assert _sdk_stats(alice.lb.get_listener_statistics(first.id)) == _c(100, 1000, 3, 10, 1)
    assert _report(boss, lb.id, "vm1/100", {first.id: _c(150, 1500, 2, 15, 1)}) == 204
    assert _sdk_stats(alice.lb.get_listener_statistics(first.id)) == _c(150, 1500, 2, 15, 1)
    # haproxy reloaded (a new worker): its counters start again, ours go on
    assert _report(boss, lb.id, "vm1/200", {first.id: _c(40, 400, 1, 4, 0)}) == 204
    assert _sdk_stats(alice.lb.get_listener_statistics(first.id)) == _c(190, 1900, 1, 19, 1)
    # a restart the epoch does not show (counters lower than before) is one too
    assert _report(boss, lb.id, "vm1/200", {first.id: _c(10, 100, 0, 1, 0)}) == 204
    assert _sdk_stats(alice.lb.get_listener_statistics(first.id)) == _c(200, 2000, 0, 20, 1)
    # a new appliance (failover): the same
    assert _report(boss, lb.id, "vm2/100", {first.id: _c(1, 2, 1, 1, 0)}) == 204
    assert _sdk_stats(alice.lb.get_listener_statistics(first.id)) == _c(201, 2002, 1, 21, 1)
    # the same counters again change nothing (a retried report)
    assert _report(boss, lb.id, "vm2/100", {first.id: _c(1, 2, 1, 1, 0)}) == 204
    assert _sdk_stats(alice.lb.get_listener_statistics(first.id)) == _c(201, 2002, 1, 21, 1)
    assert _sdk_stats(alice.lb.get_load_balancer_statistics(lb.id)) == _c(206, 2008, 2, 23, 1)
    # a stale revision's report still carries current counters
    alice.lb.update_listener(first, name="changed")
    changed = _model(boss, lb.id)
    start = _outbox_end(lb_api)
    assert _report(boss, lb.id, "vm2/100", {first.id: _c(3, 4, 0, 2, 0)},
                   revision=model["revision"]) == 204
    assert _sdk_stats(alice.lb.get_listener_statistics(first.id)) == _c(203, 2004, 0, 22, 1)
    # stats are observations: no notification, no revision, no updated_at
    after = _model(boss, lb.id)
    assert _outbox(lb_api, start) == []
    assert after["revision"] == changed["revision"]
    assert [o["updated_at"] for o in [after["loadbalancer"], *after["listeners"]]] == \
        [o["updated_at"] for o in [changed["loadbalancer"], *changed["listeners"]]]


def test_a_report_without_stats_keeps_them_and_other_ids_are_ignored(alice, boss, graph,
                                                                      subnet):
    lb, listener = graph["lb"], graph["listener"]
    other = make_graph(alice, subnet, name="other", protocol="TCP", port=22,
                       member_address="10.20.0.9")
    assert _report(boss, lb.id, "a", {listener.id: _c(7, 8, 1, 1, 0),
                                      other["listener"].id: _c(9, 9, 9, 9, 9)}) == 204
    with boss.http() as c:
        assert c.put(f"/astara/loadbalancers/{lb.id}/statuses", json={
            "revision": _model(boss, lb.id)["revision"],
            "listeners": [{"id": listener.id, "operating_status": "ONLINE"}]}
        ).status_code == 204  # an old orchestrator's body
    assert _sdk_stats(alice.lb.get_listener_statistics(listener.id)) == _c(7, 8, 1, 1, 0)
    assert _sdk_stats(alice.lb.get_listener_statistics(other["listener"].id)) == _c()
    assert _sdk_stats(alice.lb.get_load_balancer_statistics(other["lb"].id)) == _c()


@pytest.mark.parametrize("stats", [
    {"bytes_in": -1}, {"bytes_in": "1"}, {"bytes_in": True}, {"bytes_in": 2**63},
    {"packets": 1}, [1, 2], "many",
])
def test_bad_counters_are_400(boss, graph, stats):
    lb, listener = graph["lb"], graph["listener"]
    with boss.http() as c:
        r = c.put(f"/astara/loadbalancers/{lb.id}/statuses", json={
            "revision": 1, "listeners": [{"id": listener.id, "stats": stats}]})
    assert r.status_code == 400, r.text
    assert r.json()["faultcode"] == "Client"


@pytest.mark.parametrize("body", [
    {"revision": 1, "stats_epoch": 7},
    {"revision": 1, "stats_epoch": "x" * 256},
    {"revision": 1, "pools": [{"id": "p", "stats": {"bytes_in": 1}}]},
])
def test_bad_epochs_and_stats_of_other_kinds_are_400(boss, graph, body):
    with boss.http() as c:
        r = c.put(f"/astara/loadbalancers/{graph['lb'].id}/statuses", json=body)
    assert r.status_code == 400, r.text


def test_stats_are_scoped_as_reads(alice, bob, boss, graph):
    lb, listener = graph["lb"], graph["listener"]
    assert _report(boss, lb.id, "e", {listener.id: _c(1, 2, 0, 3, 0)}) == 204
    reader = alice.reader()
    assert _sdk_stats(reader.lb.get_listener_statistics(listener.id)) == _c(1, 2, 0, 3, 0)
    assert _sdk_stats(boss.lb.get_load_balancer_statistics(lb.id)) == _c(1, 2, 0, 3, 0)
    with bob.http() as c:
        for path in (f"loadbalancers/{lb.id}", f"listeners/{listener.id}"):
            r = c.get(f"/lbaas/{path}/stats")
            assert (r.status_code, r.json()) == (403, FORBIDDEN)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        bob.lb.get_load_balancer_statistics(lb.id)
    missing = "00000000-0000-4000-8000-000000000001"
    with alice.http() as c:
        r = c.get(f"/lbaas/loadbalancers/{missing}/stats")
        assert (r.status_code, r.json()["faultstring"]) == (
            404, f"Load Balancer {missing} not found.")
        r = c.get(f"/lbaas/listeners/{missing}/stats")
        assert (r.status_code, r.json()["faultstring"]) == (404, f"Listener {missing} not found.")
    with pytest.raises(openstack.exceptions.NotFoundException):
        alice.lb.get_listener_statistics(missing)


def test_deleting_a_listener_or_load_balancer_removes_its_stats(alice, boss, graph, lb_api):
    lb, listener = graph["lb"], graph["listener"]
    second = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP",
                                      protocol_port=22)
    assert _report(boss, lb.id, "e", {listener.id: _c(1, 1, 1, 1, 1),
                                      second.id: _c(2, 2, 2, 2, 2)}) == 204

    def rows() -> set[str]:
        with _service(lb_api).db.read() as s:
            return set(s.scalars(select(m.ListenerStats.listener_id).where(
                m.ListenerStats.loadbalancer_id == lb.id)))

    assert rows() == {listener.id, second.id}
    alice.lb.delete_listener(second)
    assert rows() == {listener.id}
    assert _sdk_stats(alice.lb.get_load_balancer_statistics(lb.id)) == _c(1, 1, 1, 1, 1)
    alice.lb.delete_load_balancer(lb, cascade=True)
    assert rows() == set()


def test_failover_is_an_admins_and_answers_202_without_a_body(alice, boss, graph, lb_api):
    lb = graph["lb"]
    before = _model(boss, lb.id)
    with alice.http() as c:
        r = c.put(f"/lbaas/loadbalancers/{lb.id}/failover")
        assert (r.status_code, r.json()) == (captures.call("035_failover", 1)["status"],
                                             FORBIDDEN)
    with alice.reader().http() as c:
        assert c.put(f"/lbaas/loadbalancers/{lb.id}/failover").status_code == 403
    with pytest.raises(openstack.exceptions.ForbiddenException):
        alice.lb.failover_load_balancer(lb.id)
    assert _model(boss, lb.id)["failover_count"] == 0
    start = _outbox_end(lb_api)
    with boss.http() as c:
        r = c.put(f"/lbaas/loadbalancers/{lb.id}/failover")
    assert (r.status_code, r.content) == (captures.call("035_failover", 2)["status"], b"")
    after = _model(boss, lb.id)
    assert after["failover_count"] == 1
    assert after["revision"] == before["revision"] + 1
    events = _outbox(lb_api, start)
    assert [(e["event_type"], e["payload"]["loadbalancer"]["id"]) for e in events] == [
        ("loadbalancer.update.end", lb.id)]
    assert "failover_count" not in alice.lb.get_load_balancer(lb.id).to_dict()
    with alice.http() as c:
        assert "failover_count" not in c.get(f"/lbaas/loadbalancers/{lb.id}").json()[
            "loadbalancer"]


def test_failover_while_pending_is_accepted_unlike_octavia(alice, boss, graph):
    lb = graph["lb"]
    # built once: a current report makes it ACTIVE
    with boss.http() as c:
        assert c.put(f"/astara/loadbalancers/{lb.id}/statuses", json={
            "revision": _model(boss, lb.id)["revision"],
            "loadbalancer": {"provisioning_status": "ACTIVE"}}).status_code == 204
    boss.lb.failover_load_balancer(lb.id)
    assert alice.lb.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"
    status, _ = captures.fault("035_failover", 3)
    assert status == 409  # Octavia refuses a second one while PENDING_UPDATE; we take it
    boss.lb.failover_load_balancer(lb.id)
    assert _model(boss, lb.id)["failover_count"] == 2
    assert alice.lb.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"


def test_failover_of_an_unknown_load_balancer_is_404(alice, boss):
    missing = "00000000-0000-4000-8000-000000000002"
    for who in (boss, alice):  # Octavia looks it up before its policy
        with who.http() as c:
            r = c.put(f"/lbaas/loadbalancers/{missing}/failover")
        assert (r.status_code, r.json()["faultstring"]) == (
            404, f"Load Balancer {missing} not found.")
    with pytest.raises(openstack.exceptions.NotFoundException):
        boss.lb.failover_load_balancer(missing)
