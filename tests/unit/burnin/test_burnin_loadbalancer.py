"""``astara-burnin``'s load-balancer stage: the round-robin judgement, the skip flag,
--keep, the hint when load balancers are not served, and the cleanup of a failed run."""

from __future__ import annotations

import pytest

from astara.burnin import loadbalancer as stage
from astara.burnin.scenario import Options, Scenario
from astara.burnin.steps import KEPT
from astara.cli import burnin as cli
from astara.common.progress import SILENT

A, B = "burnin-x-web1", "burnin-x-web2"
LB_STEPS = 6


@pytest.mark.parametrize(("answers", "why"), [
    ([A, B, A, B, A, B], None),
    ([B, A, B, A], None),
    ([A, A, B, B, A, B], "not in turn"),
    ([A, B, A, B, A, A], "uneven answers"),
    ([A, B, None, B], "unexpected answers"),
    ([A, "other", A, B], "unexpected answers"),
])
def test_round_robin_means_each_in_turn_as_often_as_the_other(answers, why):
    got = stage.round_robin(answers, (A, B))
    assert (got is None) if why is None else (got is not None and got.startswith(why))


class Cloud:
    """Stands for an openstacksdk connection: records every call and refuses it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    network = compute = load_balancer = property(lambda self: self)

    def __getattr__(self, name: str):
        def call(*args, **kwargs) -> None:
            self.calls.append(name)
            raise ConnectionError(f"{name}: nothing listens")
        return call


def scenario(cloud: Cloud, **options) -> Scenario:
    return Scenario(Options(run_id="x", **options), echo=None, admin=cloud, user=cloud)


def lb_steps(s: Scenario) -> list:
    return s.lb.steps()


def test_the_stage_runs_after_metadata_and_before_the_router_goes():
    names = [st.name for st in scenario(Cloud()).steps()]
    first = names.index("load balancer: two member instances ACTIVE")
    assert names[first - 1] == "metadata through the router"
    assert names[first + LB_STEPS] == "interface removal cuts the network off"


def test_skip_loadbalancer_reports_one_skipped_step_and_asks_nothing():
    cloud = Cloud()
    s = scenario(cloud, skip_loadbalancer=True)
    s.r.run(lb_steps(s))
    [step] = s.report.steps
    assert (step.name, step.status, step.detail) == ("load-balancer stage", "skipped",
                                                     stage.SKIPPED)
    assert "--skip-loadbalancer" in step.line() and cloud.calls == []
    assert s.report.ok


def test_a_load_balancer_api_that_does_not_answer_says_what_to_check():
    cloud = Cloud()
    s = scenario(cloud, loadbalancer_url="http://127.0.0.1:9/")
    s.made.update(sub1="s-1")
    create = next(st for st in lb_steps(s) if st.fn == s.lb.create)
    s.r.run([create])
    [step] = s.report.steps
    assert step.status == "fail" and "nothing listens" in step.detail
    assert "loadbalancer driver enabled" in step.detail and "127.0.0.1:9/" in step.detail
    assert "--skip-loadbalancer" in step.detail


def test_keep_leaves_the_load_balancer_up():
    cloud = Cloud()
    s = scenario(cloud, keep=True)
    s.made.update(lb="lb-1", web1="v-1", web2="v-2")
    s.r.run([st for st in lb_steps(s) if st.teardown])
    [step] = s.report.steps
    assert (step.status, step.detail) == ("skipped", KEPT) and cloud.calls == []
    assert s.kept()["lb"] == "lb-1"


def test_a_failed_run_deletes_its_load_balancer_with_cascade_and_its_members():
    class Recording(Cloud):
        def __getattr__(self, name: str):
            def call(*args, **kwargs):
                self.calls.append((name, args, kwargs))
                return None  # deleted, and found no more
            return call

    cloud = Recording()
    s = scenario(cloud)
    s.made.update(lb="lb-1", web1="v-1", web2="v-2")
    s.lb.cleanup(lambda fn: fn())
    assert cloud.calls[0] == ("delete_load_balancer", ("lb-1",), {"cascade": True})
    assert [c[:2] for c in cloud.calls[1:3]] == [("delete_server", ("v-1",)),
                                                ("delete_server", ("v-2",))]
    assert "web1" not in s.made and "web2" not in s.made


def test_the_command_line_passes_the_stage_options(monkeypatch):
    seen: list[Options] = []

    class Fake:
        def __init__(self, o: Options, progress):
            seen.append(o)
            assert progress is SILENT  # stdout is not a terminal here

        def run(self):
            return scenario(Cloud()).report  # no step: passed

    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Scenario", Fake)
    assert cli.main(["--skip-loadbalancer", "--loadbalancer-url", "http://lb:9876/"]) == 0
    assert (seen[0].skip_loadbalancer, seen[0].loadbalancer_url) == (True, "http://lb:9876/")
