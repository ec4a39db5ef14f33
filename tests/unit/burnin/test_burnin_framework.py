"""The burn-in framework both burn-ins run on: timing, warn/fail/skip, --keep, wait."""

from __future__ import annotations

import json

import pytest

from astara.burnin.steps import (
    KEPT,
    SKIPPED_AFTER_FAILURE,
    Report,
    Runner,
    Step,
    StepFailed,
    check_run_id,
    wait,
)


class Clock:
    """A clock the steps move forward: no sleeping, exact timings."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def runner(keep: bool = False) -> tuple[Runner, Clock, list[str]]:
    clock, lines = Clock(), []
    return Runner(Report("r1"), lines.append, keep=keep, clock=clock), clock, lines


def test_a_step_is_timed_by_the_clock_and_warns_past_its_limit():
    r, clock, lines = runner()
    r.step("fast", lambda: clock.advance(1.5), warn_after=2)
    r.step("slow", lambda: (clock.advance(2.5), "ACTIVE")[1], warn_after=2)
    fast, slow = r.report.steps
    assert (fast.status, fast.seconds, fast.detail) == ("ok", 1.5, "")
    assert (slow.status, slow.seconds) == ("warn", 2.5)
    assert slow.detail == "ACTIVE (slower than 2 s)"
    assert r.report.ok and r.report.seconds == 4.0
    assert lines == [fast.line(), slow.line()]
    assert lines[1].split()[:2] == ["warn", "2.50s"]


def test_a_failure_is_reported_and_skips_the_rest_but_not_the_cleanup():
    r, clock, _ = runner()
    called = []

    def broken() -> None:
        clock.advance(0.25)
        raise StepFailed("flavor m1.tiny not found")

    r.run([Step("list", broken),
           Step("create", lambda: called.append("create")),
           Step("cleanup", lambda: called.append("cleanup"), always=True)])
    steps = {s.name: s for s in r.report.steps}
    assert called == ["cleanup"]
    assert steps["list"].status == "fail" and steps["list"].seconds == 0.25
    assert steps["list"].detail == "StepFailed: flavor m1.tiny not found"
    assert (steps["create"].status, steps["create"].detail) == ("skipped",
                                                                SKIPPED_AFTER_FAILURE)
    assert steps["cleanup"].status == "ok"
    assert not r.report.ok
    summary = json.loads(r.report.to_json())
    assert summary == {"run_id": "r1", "ok": False, "seconds": 0.25, "steps": [
        {"name": "list", "status": "fail", "seconds": 0.25,
         "detail": "StepFailed: flavor m1.tiny not found"},
        {"name": "create", "status": "skipped", "seconds": 0.0,
         "detail": SKIPPED_AFTER_FAILURE},
        {"name": "cleanup", "status": "ok", "seconds": 0.0, "detail": ""}]}
    assert r.report.verdict() == "burn-in r1: FAILED in 0.2 s (1/3 steps passed)"


@pytest.mark.parametrize("keep", [True, False])
def test_keep_skips_the_teardown_steps_and_only_them(keep):
    r, _, _ = runner(keep=keep)
    called = []
    r.run([Step("build", lambda: called.append("build")),
           Step("take down", lambda: called.append("take down"), teardown=True),
           Step("check", lambda: called.append("check"))])
    assert called == (["build", "check"] if keep else ["build", "take down", "check"])
    down = r.report.steps[1]
    assert (down.status, down.detail) == (("skipped", KEPT) if keep else ("ok", ""))
    assert r.report.ok


def test_wait_polls_until_true_and_forgives_transient_errors():
    clock, answers = Clock(), iter([ConnectionError("refused"), "", "ACTIVE"])

    def check() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait(check, 10, "up", interval=1, clock=clock, sleep=clock.advance) == "ACTIVE"
    assert clock.now == 102.0


def test_wait_gives_up_at_its_deadline_naming_the_last_error():
    clock = Clock()

    def check() -> None:
        raise ConnectionError("refused")

    with pytest.raises(StepFailed, match=r"router ACTIVE not within 3 s \(last error: "
                                         r"refused\)"):
        wait(check, 3, "router ACTIVE", interval=1, clock=clock, sleep=clock.advance)
    assert clock.now == 103.0


def test_a_step_failure_inside_wait_is_final():
    clock, calls = Clock(), []

    def check() -> None:
        calls.append(clock.now)
        raise StepFailed("server is ERROR")

    with pytest.raises(StepFailed, match="server is ERROR"):
        wait(check, 30, "ACTIVE", interval=1, clock=clock, sleep=clock.advance)
    assert calls == [100.0]


@pytest.mark.parametrize("run_id", ["xyz", "a1b2c3", "night-7", "0", "abcdefghijkl"])
def test_run_ids_that_can_name_namespaces_and_links(run_id):
    assert check_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", ["", "XYZ", "a b", "a/b", "-x", "abcdefghijklm", "é"])
def test_run_ids_that_cannot_are_refused_saying_why(run_id):
    with pytest.raises(ValueError, match="lower-case letters, digits or dashes"):
        check_run_id(run_id)


def test_a_step_given_a_skip_reason_is_reported_skipped_and_not_run():
    r, _, lines = runner()
    called = []
    r.run([Step("stage", lambda: called.append("stage"), skip="(--skip-stage: no driver)"),
           Step("next", lambda: called.append("next"))])
    assert called == ["next"]
    stage = r.report.steps[0]
    assert (stage.status, stage.detail) == ("skipped", "(--skip-stage: no driver)")
    assert lines[0].split()[0] == "skipped" and lines[0].endswith("stage (--skip-stage: "
                                                                  "no driver)")
    assert r.report.ok
