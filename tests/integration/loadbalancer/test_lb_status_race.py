"""A child's update racing the orchestrator's status report (PostgreSQL's READ COMMITTED).

An update reads the child, then locks its load balancer. A report that commits in
between (it locks the load balancer, writes ``ACTIVE``) must not survive the update:
the child ends ``PENDING_UPDATE``, the intent the orchestrator has not built yet. The
report is committed, on its own connection, at the exact moment the update is about to
lock the load balancer (a hook on that call: no sleeps, no timing). SQLite runs one
writer at a time, so there the report can only come first: the same outcome is asserted.
"""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import models as m
from astara.loadbalancer_service import statuses
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.resources import base, listeners, pools, status_report
from tests.integration.loadbalancer.conftest import make_graph

TARGETS = {"listeners": (listeners, m.Listener, {"connection_limit": 7}),
           "pools": (pools, m.Pool, {"name": "renamed"})}


def _service(server):
    return server._server.config.app.state.service


def _status(db, model, id_: str) -> str:
    with db.read() as s:
        return s.get(model, id_).provisioning_status


def _report_active(db, lb_id: str, plural: str, child_id: str) -> None:
    """The orchestrator's report of the current revision, on a connection of its own."""
    with db.write() as s:
        lb = s.get(m.LoadBalancer, lb_id, with_for_update=True)
        report = statuses.parse({"revision": lb.revision,
                                 "loadbalancer": {"provisioning_status": "ACTIVE"},
                                 plural: [{"id": child_id, "provisioning_status": "ACTIVE"}]})
        status_report.apply(s, lb, report)


@pytest.mark.parametrize("plural", sorted(TARGETS))
@pytest.mark.parametrize("before", ["PENDING_CREATE", "PENDING_UPDATE"])
def test_a_report_committed_while_a_child_update_runs_leaves_it_pending(
        alice, subnet, lb_api, monkeypatch, plural, before):
    service = _service(lb_api)
    db = service.db
    graph = make_graph(alice, subnet)
    lb_id = graph["lb"].id
    module, model, change = TARGETS[plural]
    child_id = graph[plural[:-1]].id
    ctx = RequestContext(alice.project, "u", ("member", "reader"))
    if before == "PENDING_UPDATE":  # built once, then changed: the stale value equals the next
        _report_active(db, lb_id, plural, child_id)
        service.update(ctx, plural, child_id, {"description": "changed"})
    assert _status(db, model, child_id) == before

    real_parent = module.parent
    reported: list[str] = []

    def parent_then_report(s, parent_model, id_, lock=True):
        # The child was read (its status `before`); the load balancer is locked next.
        if parent_model is m.LoadBalancer and not reported:
            reported.append(_status(db, model, child_id))
            _report_active(db, lb_id, plural, child_id)
        return real_parent(s, parent_model, id_, lock)

    if db.is_sqlite:  # one writer at a time: the report cannot land inside the update
        _report_active(db, lb_id, plural, child_id)
    else:
        monkeypatch.setattr(module, "parent", parent_then_report)
    assert _status(db, model, child_id) in (before, "ACTIVE")
    view = service.update(ctx, plural, child_id, change)
    monkeypatch.undo()

    assert reported == ([] if db.is_sqlite else [before])  # the hook ran, mid-update
    assert view["provisioning_status"] == "PENDING_UPDATE"
    assert _status(db, model, child_id) == "PENDING_UPDATE"
    assert _status(db, m.LoadBalancer, lb_id) == "PENDING_UPDATE"
    with db.read() as s:  # the report was of an older revision than the update's
        assert s.get(m.LoadBalancer, lb_id).revision > 1


def test_a_new_object_stays_pending_create_without_a_report(alice, subnet, lb_api):
    """The rule in SQL keeps Python's: an object never built stays PENDING_CREATE."""
    service = _service(lb_api)
    graph = make_graph(alice, subnet)
    ctx = RequestContext(alice.project, "u", ("member", "reader"))
    view = service.update(ctx, "listeners", graph["listener"].id, {"name": "x"})
    assert view["provisioning_status"] == base.PENDING_CREATE
    assert _status(service.db, m.Listener, graph["listener"].id) == base.PENDING_CREATE
