"""A worker's report says which routers it no longer holds and, of those, which it was
told to release (the parent keeps their keys) rather than ended (the parent forgets
them): ``runtime.Touched`` and ``runtime.report``."""

from __future__ import annotations

from astara.orchestrator.reconcile.memory import RouterState
from astara.orchestrator.runtime import Touched, report

R, S = "r" * 8 + "-0000-4000-8000-000000000000", "s" * 8 + "-0000-4000-8000-000000000000"


def test_a_released_router_is_reported_released_until_a_pass_begins_again():
    t = Touched()
    t.released(R)
    touched, released = t.take()
    assert report({}, touched, released)[1:] == ([R], [R])
    # Given back: a pass begins, and ends terminal (the router was deleted meanwhile).
    t.released(R)
    t.starts(R)
    t.passed(R)
    touched, released = t.take()
    assert report({}, touched, released)[1:] == ([R], [])


def test_a_pass_running_when_its_router_is_released_does_not_undo_the_release():
    t = Touched()
    t.starts(R)  # the pass began before the release
    t.released(R)
    t.passed(R)
    t.passed(S)
    touched, released = t.take()
    assert touched == {R, S} and released == {R}
    assert report({S: RouterState("t")}, touched, released)[1:] == ([R], [R])
    assert t.take() == (set(), set()) and not t.any()


def test_a_first_report_names_no_router_dropped():
    assert report({R: RouterState("t")}, None)[1:] == (None, [])
