"""Ownership over real lease rows (SQLite) and the fake membership, on a fake clock.

Two or three members share one database: at no instant do two of them hold a live
lease on one resource, a resource moves only once its old owner has released it (or
its lease ended), and a member that lost the coordination service stops acting one
lease later and comes back with new epochs.
"""

from __future__ import annotations

import pytest

from astara.common.settings import sqlite_url
from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator.cluster.leases import Lease, Leases, MemberBoard, verdict
from astara.orchestrator.cluster.membership import StaticMembership
from astara.orchestrator.cluster.ownership import Ownership, Rebalance, rebalance
from astara.orchestrator.cluster.ring import Ring
from astara.orchestrator.cluster.settings import CoordinationSettings
from astara.wire.tenure import Tenure

IDS = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(60)]
LEASE, MARGIN = 10, 2.0


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path):
    d = Database(sqlite_url(tmp_path))
    migrate.upgrade(d.engine)
    yield d
    d.dispose()


def member(db, clock, name: str, group: dict) -> Ownership:
    s = CoordinationSettings(True, "", "g", 1.0, LEASE, MARGIN, name, "")
    m = StaticMembership(name)
    m.members = group  # one dict shared by all: the group as the service sees it
    return Ownership(s, m, Leases(db, f"{name}/1", s.lease, MARGIN, clock), MemberBoard(db),
                     f"http://{name}", clock)


def live_holders(db, clock) -> dict[str, str]:
    leases = Leases(db, "reader", LEASE, MARGIN, clock)
    out = {}
    for rid in IDS:
        lease = leases.get(rid)
        if lease is not None and lease.expires_at > clock.now:
            out[rid] = lease.owner
    return out


@pytest.mark.parametrize("lease, me, now, why", [
    (None, "a", 0.0, "no lease"),
    (Lease("b", 3, 100.0), "a", 0.0, "lease held by b (epoch 3)"),
    (Lease("a", 3, 101.0), "a", 100.0, "lease (epoch 3) ends in 1.0 s"),
    (Lease("a", 3, 99.0), "a", 100.0, "lease (epoch 3) ends in 0.0 s"),
    (Lease("a", 3, 102.0), "a", 100.0, "lease (epoch 3) ends in 2.0 s"),  # the margin
    (Lease("a", 3, 102.5), "a", 100.0, None),
])
def test_the_fence_verdict(lease, me, now, why):
    assert verdict(lease, me, now, MARGIN) == why


def test_rebalance_is_a_set_difference():
    assert rebalance({"x", "y"}, {"y", "z"}, {"y", "z"}).adopt == {"z"}
    assert rebalance({"x", "y"}, {"y", "z"}, {"y", "z"}).release == {"x"}
    # wanted but not taken (another holds it still): released too, adopted later
    assert rebalance({"x"}, {"x"}, set()).release == {"x"}


def test_a_joining_member_takes_its_share_only_after_the_old_owner_releases(db):
    clock, group = Clock(), {}
    a = member(db, clock, "orch-a", group)
    group["orch-a"] = {}
    first = a.tick(IDS)
    assert first.adopt == set(IDS) and not first.release
    assert all(a.leases.check(rid) is None for rid in IDS)

    group["orch-b"] = {}
    b = member(db, clock, "orch-b", group)
    theirs = Ring.of(group).mine("orch-b", IDS)
    assert 10 < len(theirs) < 50
    assert b.tick(IDS).adopt == set()  # a still holds them: nothing yet
    clock.now += 1
    change = a.tick(IDS)
    assert change.release == theirs and not change.adopt
    # Released: a keeps the margin only, so its fence refuses at once...
    assert all(a.leases.check(rid).startswith("lease (epoch 1) ends in")
               for rid in theirs)
    # ...and b cannot take them until that margin has passed.
    assert b.tick(IDS).adopt == set()
    assert set(live_holders(db, clock).values()) == {"orch-a/1"}
    clock.now += MARGIN
    change = b.tick(IDS)
    assert change.adopt == theirs
    assert {b.leases.get(rid).epoch for rid in theirs} == {2}  # changed hands once
    holders = live_holders(db, clock)
    assert {rid for rid, o in holders.items() if o == "orch-b/1"} == theirs
    assert all(b.leases.check(rid) is None for rid in theirs)
    assert all(a.leases.check(rid).startswith("lease held by orch-b/1") for rid in theirs)
    # The tenure a push carries to the appliance: the new owner's, with the new epoch.
    assert {b.leases.tenure(rid) for rid in theirs} == {Tenure(2, "orch-b/1")}
    assert all(a.leases.tenure(rid).startswith("lease held by orch-b/1") for rid in theirs)


def test_a_dead_member_s_resources_are_taken_once_its_leases_end(db):
    clock, group = Clock(), {"orch-a": {}, "orch-b": {}}
    a, b = member(db, clock, "orch-a", group), member(db, clock, "orch-b", group)
    a.tick(IDS)
    b.tick(IDS)
    a_had = set(a.held)
    del group["orch-b"]  # b is killed: the group forgets it after its timeout...
    clock.now += 1
    assert a.tick(IDS).adopt == set()  # ...but its leases still run
    clock.now += LEASE
    assert a.tick(IDS).adopt == set(IDS) - a_had
    assert set(live_holders(db, clock).values()) == {"orch-a/1"}


def test_coordination_down_serves_one_lease_then_acts_on_nothing(db, caplog):
    clock, group = Clock(), {"orch-a": {}}
    a = member(db, clock, "orch-a", group)
    a.tick(IDS)
    a.membership.down = True
    clock.now += 1
    assert a.tick(IDS).release == set()
    assert a.admit(IDS[:1]) == set(IDS[:1])  # still serving what it held
    assert a.status()["coordination"].startswith("down: ")
    clock.now += LEASE
    change = a.tick(IDS)
    assert change.release == set(IDS) and a.held == {}
    assert a.admit(IDS[:1]) == set()
    assert a.status()["acting"] is False
    assert all(a.leases.check(rid).startswith("lease (epoch 1) ends in 0.0") for rid in IDS)
    assert "acting on no resource" in caplog.text
    a.membership.down = False
    clock.now += 1
    change = a.tick(IDS)
    assert change.adopt == set(IDS)
    assert {a.leases.get(rid).epoch for rid in IDS} == {2}  # a new tenure
    assert a.status()["coordination"] == "ok"


def test_a_new_resource_is_admitted_by_its_ring_owner_only(db):
    clock, group = Clock(), {"orch-a": {}, "orch-b": {}}
    a, b = member(db, clock, "orch-a", group), member(db, clock, "orch-b", group)
    a.tick([])
    b.tick([])
    new = IDS[7]
    owner = Ring.of(group).owner(new)
    admitted = {m.name: m.admit([new]) for m in (a, b)}
    assert admitted[owner] == {new}
    assert [n for n, got in admitted.items() if got] == [owner]


def test_the_member_board_holds_each_member_s_last_heartbeat(db):
    clock, group = Clock(), {"orch-a": {}, "orch-b": {}}
    a, b = member(db, clock, "orch-a", group), member(db, clock, "orch-b", group)
    a.tick(IDS)
    clock.now += 1
    b.tick(IDS)
    rows = MemberBoard(db).read()
    assert [(r["name"], r["heartbeat_at"], r["coordination"]) for r in rows] == [
        ("orch-a", 1_000_000.0, "ok"), ("orch-b", 1_000_001.0, "ok")]


def test_advance_raises_only_our_own_row_at_the_epoch_we_pushed(db):
    clock = Clock()
    a = Leases(db, "orch-a/1", LEASE, MARGIN, clock)
    b = Leases(db, "orch-b/1", LEASE, MARGIN, clock)
    rid = IDS[0]
    assert a.take([rid]) == {rid: 1}  # a restored database: epoch 1 again
    assert a.advance(rid, Tenure(1, "orch-a/1"), 7) == Tenure(8, "orch-a/1")
    assert a.get(rid).epoch == 8 and a.tenure(rid) == Tenure(8, "orch-a/1")
    # Pushed under an epoch the row no longer has: a newer tenure exists, no change.
    assert a.advance(rid, Tenure(1, "orch-a/1"), 9) is None and a.get(rid).epoch == 8
    # Another member's row is never raised by us.
    assert b.advance(rid, Tenure(8, "orch-b/1"), 9) is None and a.get(rid).owner == "orch-a/1"
    # Nor past what the row's column holds (int4 on PostgreSQL), nor by a big jump.
    assert a.advance(rid, Tenure(8, "orch-a/1"), 2**31 - 1) is None
    assert a.advance(rid, Tenure(8, "orch-a/1"), 8 + 1001) is None
    assert a.advance(rid, Tenure(8, "orch-a/1"), 2**30) is None and a.get(rid).epoch == 8
    # Nor our own once its lease is within the margin of its end.
    clock.now += LEASE - MARGIN
    assert a.advance(rid, Tenure(8, "orch-a/1"), 9) is None and a.get(rid).epoch == 8


def test_a_row_at_the_epoch_limit_is_not_taken_and_the_rest_of_the_share_is(db, caplog):
    from sqlalchemy import update

    from astara.orchestrator.models import LeaseRow
    clock = Clock()
    a = Leases(db, "orch-a/1", LEASE, MARGIN, clock)
    assert a.take(IDS[:3]) == dict.fromkeys(IDS[:3], 1)
    with db.write() as s:
        s.execute(update(LeaseRow).where(LeaseRow.resource_id == IDS[1])
                  .values(epoch=2**31 - 1))
    assert a.take(IDS[:3])[IDS[1]] == 2**31 - 1  # ours and live: kept as it is
    clock.now += LEASE + 1  # it lapses: changing hands would overflow the column
    b = Leases(db, "orch-b/1", LEASE, MARGIN, clock)
    assert b.take(IDS[:3]) == {IDS[0]: 2, IDS[2]: 2}
    assert a.get(IDS[1]).epoch == 2**31 - 1 and a.get(IDS[1]).owner == "orch-a/1"
    assert any(r.levelname == "ERROR" and IDS[1] in r.getMessage() for r in caplog.records)


def test_a_database_error_while_raising_stays_fenced_with_one_error_line(db, caplog):
    from sqlalchemy.exc import OperationalError
    clock = Clock()
    a = Leases(db, "orch-a/1", LEASE, MARGIN, clock)
    assert a.take([IDS[0]]) == {IDS[0]: 1}

    class Down:
        def write(self):
            raise OperationalError("UPDATE", {}, Exception("integer out of range"))

    a.db = Down()
    assert a.advance(IDS[0], Tenure(1, "orch-a/1"), 7) is None
    assert "not raised to epoch 8: database error" in caplog.text


def test_a_resource_admitted_after_the_known_list_was_read_is_kept(db):
    # The heartbeat thread reads the known resources, then beats (a call to the
    # coordination service) and rebuilds the ring; intake may admit a new router in
    # between. It was released, then adopted again a beat later: its first pass fenced,
    # and the report of the release read by the parent as a terminal drop.
    clock, group = Clock(), {"orch-a": {}}
    a = member(db, clock, "orch-a", group)
    a.tick([])
    new = IDS[3]
    assert a.admit([new]) == {new}
    clock.now += 1
    change = a.tick([])  # the list read before the admission
    assert new not in change.release and a.owns(new)
    assert a.leases.check(new) is None  # renewed, not cut to the margin
    clock.now += 1
    assert a.tick([new]) == Rebalance() and a.owns(new)
    # Forgotten since (deleted): released at the next round.
    clock.now += 1
    assert a.tick([]).release == {new} and not a.owns(new)
