"""The hash ring: same answer everywhere, even spread, minimal movement."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from astara.orchestrator.cluster.ring import Ring, moves

names = st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                         max_size=12), min_size=1, max_size=6, unique=True)
ids = st.lists(st.uuids().map(str), min_size=0, max_size=200, unique=True)


def test_no_member_owns_nothing():
    assert Ring.of([]).owner("x") is None and Ring.of([]).shares() == {}


def test_the_answer_depends_on_the_member_set_only():
    a = Ring.of(["orch-1", "orch-2", "orch-3"])
    b = Ring.of(["orch-3", "orch-1", "orch-2", "orch-1"])
    rids = [str(uuid.UUID(int=i)) for i in range(500)]
    assert a.assign(rids) == b.assign(rids)
    assert a == b


@settings(max_examples=60, deadline=None)
@given(names)
def test_shares_cover_the_circle_and_stay_near_fair(members):
    shares = Ring.of(members).shares()
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    fair = 1 / len(members)
    # 128 points per member: each share within [0.6, 1.5] x fair.
    assert all(0.6 * fair <= s <= 1.5 * fair for s in shares.values()), shares


def test_a_thousand_routers_spread_over_three_members():
    ring = Ring.of(["orch-1", "orch-2", "orch-3"])
    rids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"r{i}")) for i in range(1000)]
    counts = {m: len(ring.mine(m, rids)) for m in ring.members}
    assert sum(counts.values()) == 1000
    assert all(250 <= c <= 420 for c in counts.values()), counts


@settings(max_examples=60, deadline=None)
@given(names, st.text(min_size=1, max_size=12), ids)
def test_a_join_moves_resources_only_to_the_newcomer(members, newcomer, rids):
    if newcomer in members:
        return
    before, after = Ring.of(members), Ring.of([*members, newcomer])
    assert all(new == newcomer for _, new in moves(before, after, rids).values())


@settings(max_examples=60, deadline=None)
@given(names, ids)
def test_a_leave_moves_only_the_leavers_resources(members, rids):
    leaver = members[0]
    before, after = Ring.of(members), Ring.of(members[1:])
    moved = moves(before, after, rids)
    assert all(old == leaver for old, _ in moved.values())
    assert set(moved) == {r for r in rids if before.owner(r) == leaver}
