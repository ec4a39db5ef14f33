"""The orchestrator's parent in a cluster: keys handed over only with their lease,
adoption and release sent to the workers, commands forwarded to the ring's owner, and
the ``cluster`` view. Bare parents (no processes) over SQLite lease rows."""

from __future__ import annotations

import threading

import pytest

from astara.common.settings import sqlite_url
from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator.cluster import view
from astara.orchestrator.cluster.leases import Leases, MemberBoard
from astara.orchestrator.cluster.membership import StaticMembership
from astara.orchestrator.cluster.ownership import Ownership
from astara.orchestrator.cluster.ring import Ring
from astara.orchestrator.cluster.settings import CoordinationSettings
from astara.orchestrator.fip_routers import LastPushed
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.service import Orchestrator, WorkerHandle

IDS = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(40)]
REFS = {rid: ResourceRef("router", rid, "t1") for rid in IDS}


class Inbox:
    def __init__(self):
        self.got: list[tuple] = []

    def put(self, msg: tuple) -> None:
        self.got.append(msg)


@pytest.fixture
def db(tmp_path):
    d = Database(sqlite_url(tmp_path))
    migrate.upgrade(d.engine)
    yield d
    d.dispose()


def parent(db, name: str, group: dict) -> Orchestrator:
    s = CoordinationSettings(True, "", "g", 1.0, 10, 2.0, name, "")
    m = StaticMembership(name)
    m.members = group
    orch = Orchestrator.__new__(Orchestrator)
    orch.coordination = s
    orch.ownership = Ownership(s, m, Leases(db, f"{name}/1", 10.0, 2.0), MemberBoard(db),
                               f"http://{name}:44250")
    orch.known, orch._lock = dict(REFS), threading.Lock()
    orch._handoff = threading.Lock()
    orch.last_pushed = LastPushed()  # what a release forgets
    orch.workers = [WorkerHandle(0)]
    orch.workers[0].inbox = Inbox()  # type: ignore[assignment]
    return orch


def sent(orch: Orchestrator, kind: str) -> set[str]:
    return {ResourceRef(*m[1]).id for m in orch.workers[0].inbox.got if m[0] == kind}


def test_each_key_reaches_exactly_one_member_s_worker(db):
    group = {"a": {"rpc_url": "http://a:44250"}, "b": {"rpc_url": "http://b:44250"}}
    a, b = parent(db, "a", group), parent(db, "b", group)
    for orch in (a, b):
        orch.ownership.tick([])
    for ref in REFS.values():
        a.submit(ref)
        b.submit(ref)
    ring = Ring.of(group)
    assert sent(a, "submit") == ring.mine("a", IDS)
    assert sent(b, "submit") == ring.mine("b", IDS)
    assert sent(a, "submit") | sent(b, "submit") == set(IDS)


def test_a_ring_change_releases_to_the_worker_then_adopts_elsewhere(db):
    group = {"a": {}}
    a = parent(db, "a", group)
    a.apply(a.ownership.tick(IDS))
    assert sent(a, "submit") == set(IDS)
    assert all(m[2] is False for m in a.workers[0].inbox.got)  # adopted: resumed looks
    group["b"] = {}
    # b joins: a gives its share back to the worker (its state machines stop)
    a.apply(a.ownership.tick(IDS))
    assert sent(a, "release") == Ring.of(group).mine("b", IDS)


def test_a_command_goes_to_the_owner_by_the_ring(db):
    group = {"a": {"rpc_url": "http://a:44250"}, "b": {"rpc_url": "http://b:44250"}}
    a = parent(db, "a", group)
    a.ownership.tick(IDS)
    ring = Ring.of(group)
    theirs = sorted(ring.mine("b", IDS))[0]
    ours = sorted(ring.mine("a", IDS))[0]
    assert a.forward_target(theirs) == ("b", "http://b:44250")
    assert a.forward_target(ours) is None


def test_a_single_node_forwards_nothing_and_shows_itself():
    orch = Orchestrator.__new__(Orchestrator)
    assert orch.forward_target(IDS[0]) is None
    v = orch.cluster_view()
    assert v["enabled"] is False and [m["share"] for m in v["members"]] == [1.0]


def test_the_cluster_view_lists_members_shares_leases_and_heartbeats(db):
    group = {"a": {}, "b": {}}
    a, b = parent(db, "a", group), parent(db, "b", group)
    a.ownership.tick(IDS)
    b.ownership.tick(IDS)
    v = a.cluster_view()
    assert v["enabled"] and v["coordination"] == "ok" and v["member"] == "a"
    rows = {m["name"]: m for m in v["members"]}
    ring = Ring.of(group)
    assert rows["a"]["leases"] == len(ring.mine("a", IDS)) and rows["a"]["self"]
    assert rows["b"]["leases"] == len(ring.mine("b", IDS))
    assert abs(rows["a"]["share"] + rows["b"]["share"] - 1.0) < 1e-3
    assert rows["b"]["rpc_url"] == "http://b:44250" and rows["b"]["heartbeat_age"] >= 0


def test_a_member_gone_from_the_group_still_shows_with_its_last_heartbeat():
    rows = [{"name": "gone", "owner": "gone/1", "rpc_url": "", "heartbeat_at": 100.0,
             "coordination": "ok"}]
    out = view.members({"member": "a", "members": ["a"], "shares": {"a": 1.0}}, rows,
                       {"gone/1": 3}, now=130.0)
    assert [(m["name"], m["in_group"], m["share"], m["leases"], m["heartbeat_age"])
            for m in out] == [("a", True, 1.0, 0, None), ("gone", False, 0.0, 3, 30.0)]


# -- the RPC API on two members: forwarded to the ring's owner, never twice ----------

TOKEN = "t0ken-shared-by-the-members"


def serving(db, name: str, group: dict, port: int):
    from tests.support import Server

    from astara.orchestrator.rpc import build_app

    orch = parent(db, name, group)
    orch.routers = {}
    orch.drivers = {}
    app = build_app(orch, TOKEN.encode())
    return orch, Server(app, port).start()


def test_a_command_or_show_on_another_member_s_router_is_answered_by_it(db):
    import httpx
    from tests.support import free_port

    ports = {"a": free_port(), "b": free_port()}
    group = {n: {"rpc_url": f"http://127.0.0.1:{p}"} for n, p in ports.items()}
    (a, sa), (b, sb) = serving(db, "a", group, ports["a"]), serving(db, "b", group, ports["b"])
    try:
        a.ownership.tick(IDS)
        b.ownership.tick(IDS)
        theirs = sorted(Ring.of(group).mine("b", IDS))[0]
        b.routers[theirs] = {"id": theirs, "kind": "router", "status": "ACTIVE"}
        h = {"X-Auth-Token": TOKEN}
        r = httpx.get(f"{sa.url}/routers/{theirs}", headers=h)
        assert r.status_code == 200 and r.json()["router"]["status"] == "ACTIVE"
        assert r.headers["X-Astara-Forwarded"] == "b"
        # A command: done by b (its worker gets the key), not by a.
        r = httpx.put(f"{sa.url}/router/update/{theirs}", headers=h, json={})
        assert r.status_code == 200 and r.headers["X-Astara-Forwarded"] == "b"
        assert r.json()["command"] == "update"
        assert theirs in sent(b, "submit") and theirs not in sent(a, "submit")
        # Already forwarded: answered where it lands, even if the ring says otherwise.
        r = httpx.get(f"{sa.url}/routers/{theirs}",
                      headers={**h, "X-Astara-Forwarded": "b"})
        assert r.status_code == 404 and "X-Astara-Forwarded" not in r.headers
        # The caller's token goes along: a wrong one is refused by the owner too.
        r = httpx.get(f"{sa.url}/routers/{theirs}", headers={"X-Auth-Token": "nope"})
        assert r.status_code == 401
        # The owner gone: a 503 naming it, in our error format.
        sb.stop()
        r = httpx.get(f"{sa.url}/routers/{theirs}", headers=h)
        assert r.status_code == 503 and "'b'" in r.json()["error"]["message"]
        cluster = httpx.get(f"{sa.url}/cluster/", headers=h).json()["cluster"]
        assert [m["name"] for m in cluster["members"]] == ["a", "b"]
    finally:
        sa.stop()
        sb.stop()


def test_forget_drops_a_removed_member_s_row_and_cursor_but_not_leases(db):
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from astara.bus.outbox import CursorRow
    from astara.orchestrator.models import LeaseRow

    group = {"orch-a": {}, "orch-b": {}}
    a, b = parent(db, "orch-a", group), parent(db, "orch-b", group)
    a.ownership.tick(IDS)
    b.ownership.tick(IDS)
    MemberBoard(db).write("orch-c", "orch-c/9", "http://orch-c:44250", 1.0, "ok")
    with db.write() as s:
        for who in ("orch-b", "orch-c"):
            s.add(CursorRow(consumer=f"astara-orchestrator@{who}", position=3,
                            updated_at=datetime.now(UTC)))
    with db.read() as s:
        leases = s.scalar(select(func.count()).select_from(LeaseRow))
    assert a.forget_member("orch-b")[0] == 409  # in the group
    assert a.forget_member("orch-a")[0] == 409  # itself
    assert a.forget_member("orch-c") == (200, {"forgotten": "orch-c", "member_row": True,
                                               "cursor": True})
    assert [r["name"] for r in MemberBoard(db).read()] == ["orch-a", "orch-b"]
    with db.read() as s:
        assert sorted(s.scalars(select(CursorRow.consumer))) == ["astara-orchestrator@orch-b"]
        assert s.scalar(select(func.count()).select_from(LeaseRow)) == leases == len(IDS)
    assert a.forget_member("orch-c")[0] == 404
    single = Orchestrator.__new__(Orchestrator)
    single.ownership = None
    assert single.forget_member("orch-c")[0] == 409


def test_ctl_cluster_forget_goes_through_the_rpc_app(db, monkeypatch, capsys):
    import httpx
    from tests.unit.orchestrator.test_orchestrator_loadbalancer_ctl import _InProcess

    from astara.cli import ctl
    from astara.orchestrator.rpc import build_app

    a = parent(db, "orch-a", {"orch-a": {}})
    a.ownership.tick(IDS)
    MemberBoard(db).write("orch-z", "orch-z/1", "", 1.0, "ok")
    real = httpx.Client
    app = build_app(a, b"t0ken")
    monkeypatch.setattr(ctl.httpx, "Client", lambda **kw: real(transport=_InProcess(app), **kw))
    monkeypatch.setenv("ASTARA_RPC_TOKEN", "t0ken")
    assert ctl.main(["--format", "json", "cluster", "forget", "orch-z"]) == 0
    assert '"forgotten": "orch-z"' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="is in the group"):
        ctl.main(["cluster", "forget", "orch-a"])
    with pytest.raises(SystemExit, match="no member 'orch-z'"):
        ctl.main(["cluster", "forget", "orch-z"])


def test_a_cluster_wide_list_names_each_row_s_member_and_who_did_not_answer(db):
    import httpx
    from tests.support import free_port
    from tests.unit.orchestrator.test_orchestrator_loadbalancer_ctl import _InProcess

    from astara.orchestrator.rpc import build_app

    a = parent(db, "orch-a", {"orch-a": {}, "orch-z": {"rpc_url":
                                                      f"http://127.0.0.1:{free_port()}"}})
    a.ownership.tick(IDS)
    a.router_views = lambda: [{"id": IDS[0], "kind": "router"}]  # type: ignore[method-assign]
    assert a.peers() == [("orch-z", a.ownership.group()["orch-z"]["rpc_url"])]
    with httpx.Client(transport=_InProcess(build_app(a, b"t0ken")), base_url="http://rpc",
                      headers={"X-Auth-Token": "t0ken"}) as http:
        wide = http.get("/routers/?kind=router&cluster=1").json()
        alone = http.get("/routers/?kind=router").json()
    assert wide == {"routers": [{"id": IDS[0], "kind": "router", "member": "orch-a"}],
                    "unanswered": ["orch-z"],
                    "unanswered_why": {"orch-z": "did not answer"}}
    assert alone == {"routers": [{"id": IDS[0], "kind": "router"}]}


def test_ctl_router_list_cluster_shows_the_member_column_and_who_did_not_answer(
        db, monkeypatch, capsys):
    import httpx
    from tests.support import free_port
    from tests.unit.orchestrator.test_orchestrator_loadbalancer_ctl import _InProcess

    from astara.cli import ctl
    from astara.orchestrator.rpc import build_app

    a = parent(db, "orch-a", {"orch-a": {}, "orch-z": {"rpc_url":
                                                      f"http://127.0.0.1:{free_port()}"}})
    a.ownership.tick(IDS)
    a.router_views = lambda: [{"id": IDS[0], "kind": "router"}]  # type: ignore[method-assign]
    real = httpx.Client
    app = build_app(a, b"t0ken")
    monkeypatch.setattr(ctl.httpx, "Client", lambda **kw: real(transport=_InProcess(app), **kw))
    monkeypatch.setenv("ASTARA_RPC_TOKEN", "t0ken")
    assert ctl.main(["router", "list", "--cluster"]) == 0
    out, err = capsys.readouterr()
    assert "MEMBER" in out and "orch-a" in out and IDS[0] in out
    assert "no answer from orch-z" in err


def test_forget_refuses_a_member_with_a_recent_heartbeat_or_while_coordination_is_down(db):
    import time

    a = parent(db, "orch-a", {"orch-a": {}})
    a.ownership.tick(IDS)
    # Out of the group (paused, cut off from etcd) but its row is fresh: may be alive.
    MemberBoard(db).write("orch-p", "orch-p/1", "", time.time() - 5, "ok")
    code, body = a.forget_member("orch-p")
    assert code == 409 and "may be alive" in body["error"]
    MemberBoard(db).write("orch-p", "orch-p/1", "", time.time() - 31, "ok")  # 3 x 10 s
    a.ownership.membership.down = True
    a.ownership.tick(IDS)
    code, body = a.forget_member("orch-p")
    assert code == 409 and "coordination service does not answer" in body["error"]
    a.ownership.membership.down = False
    a.ownership.tick(IDS)
    assert a.forget_member("orch-p")[0] == 200


def test_forget_answers_503_with_one_log_line_when_the_database_fails(db, caplog):
    from sqlalchemy.exc import OperationalError

    a = parent(db, "orch-a", {"orch-a": {}})
    a.ownership.tick(IDS)

    def down(*args):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    a.ownership.board.read = down
    code, body = a.forget_member("orch-p")
    assert code == 503 and "database" in body["error"]
    assert "cluster forget: database error" in caplog.text and "Traceback" not in caplog.text


def test_a_submit_checked_before_a_release_is_queued_before_it(db):
    """A key admitted (lease held) while the cluster thread releases it: the worker must
    get the submit first, then the release, never a submit after its release (it would
    keep a state machine for a router another member holds)."""
    from astara.orchestrator.cluster.ownership import Rebalance

    a = parent(db, "a", {"a": {}})
    a.ownership.tick(IDS)
    rid = IDS[0]
    admitted, go = threading.Event(), threading.Event()
    real = a.ownership.admit

    def slow_admit(ids):
        mine = real(ids)
        admitted.set()
        go.wait(10)  # the release is sent meanwhile, unless it waits for this submit
        return mine

    a.ownership.admit = slow_admit  # type: ignore[method-assign]
    submitter = threading.Thread(target=a.submit, args=(REFS[rid],))
    submitter.start()
    assert admitted.wait(10)
    releaser = threading.Thread(target=a.apply, args=(Rebalance(release=frozenset({rid})),))
    releaser.start()
    releaser.join(0.5)  # long enough for an unguarded release to be sent first
    go.set()
    submitter.join(10)
    releaser.join(10)
    order = [m[0] for m in a.workers[0].inbox.got if ResourceRef(*m[1]).id == rid]
    assert order == ["submit", "release"]
