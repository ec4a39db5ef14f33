"""The reconcile tally (steps, outcomes, durations) and the orchestrator's collector."""

from __future__ import annotations

import asyncio

import pytest
from tests.orchestrator_world import REF
from tests.scrape import total, value
from tests.unit.orchestrator.test_orchestrator_reconciler import World, converge

from astara.common import metrics
from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.metrics import OrchestratorMetrics
from astara.orchestrator.reconcile.model import Outcome, OutcomeKind
from astara.orchestrator.reconcile.tally import STEP_BUCKETS, Durations, Tally
from astara.orchestrator.service import WorkerHandle
from astara.orchestrator.worker.pool import Worker


@pytest.mark.parametrize("seconds, bucket", [
    (0.0, 0), (0.005, 0), (0.0051, 1), (1.0, STEP_BUCKETS.index(1.0)),
    (60.0, len(STEP_BUCKETS) - 1), (61.0, len(STEP_BUCKETS)),
])
def test_a_duration_falls_in_the_first_bucket_it_does_not_exceed(seconds, bucket):
    d = Durations()
    d.add(seconds)
    assert d.buckets[bucket] == 1 and sum(d.buckets) == 1
    assert d.cumulative()[-1] == 1 and d.count == 1 and d.total == seconds


def test_tally_snapshot_is_plain_data():
    t = Tally()
    t.step("ConfigureVM", "requeue", True, 0.02)
    t.step("ConfigureVM", "retry", False, 0.3)
    t.outcome("requeue")
    snap = t.snapshot()
    assert snap["steps"] == {("ConfigureVM", "requeue", "ok"): 1,
                             ("ConfigureVM", "retry", "error"): 1}
    assert snap["outcomes"] == {"requeue": 1}
    cumulative, seconds, count = snap["durations"]["ConfigureVM"]
    assert count == 2 and cumulative[-1] == 2 and seconds == pytest.approx(0.32)


def test_the_executor_tallies_every_step_and_a_failed_observation():
    w = World()
    converge(w)
    steps = w.rec.executor.tally.snapshot()["steps"]
    assert {s for s, _o, _r in steps} == {"CreateVM", "CheckBoot", "ConfigureVM", "Alive"}
    assert all(r == "ok" for _s, _o, r in steps)

    def down(router_id):
        raise RemoteError("network API unreachable")

    w.network.router_model = down
    assert w.step().kind is OutcomeKind.RETRY
    assert w.rec.executor.tally.snapshot()["steps"][("CalcAction", "retry", "error")] == 1


def test_the_worker_tallies_each_pass_outcome_a_raising_pass_as_retry():
    outcomes = iter([Outcome(OutcomeKind.DONE), None])

    def run(ref, full):
        out = next(outcomes)
        if out is None:
            raise ValueError("a bug in a pass")
        return out

    async def go():
        worker = Worker(run)
        await worker._one(REF)
        await worker._one(REF)
        return worker

    worker = asyncio.run(go())
    assert worker.tally.outcomes == {"done": 1, "retry": 1} and worker.passes == 2


class FakeProc:
    pid = 1234

    def is_alive(self) -> bool:
        return True


class FakeOrch:
    def __init__(self):
        w0, w1 = WorkerHandle(0), WorkerHandle(1)
        w0.proc, w0.restarts = FakeProc(), 2
        w0.stats = {"pid": 1234, "queued": 7}
        t = Tally()
        t.step("Alive", "requeue", True, 0.004)
        t.step("CreateVM", "requeue", True, 3.0)
        t.outcome("requeue")
        t.outcome("requeue")
        w0.metrics = t.snapshot()
        self.workers = [w0, w1]  # worker 1: not started yet

    def resource_counts(self):
        return {("router", "configured", True): 3, ("router", "error", False): 1,
                ("loadbalancer", "booting", False): 2}


def test_the_collector_renders_every_workers_tally_and_the_resources():
    regs = metrics.registries()
    regs.exposed.register(OrchestratorMetrics(FakeOrch()))
    text = metrics.render(regs.exposed).decode()
    p = "astara_orchestrator_"
    assert value(text, p + "reconcile_passes_total", worker="0", outcome="requeue") == 2
    assert value(text, p + "reconcile_steps_total", worker="0", step="CreateVM",
                 outcome="requeue", result="ok") == 1
    assert value(text, p + "reconcile_step_duration_seconds_bucket", worker="0",
                 step="CreateVM", le="2.5") == 0
    assert value(text, p + "reconcile_step_duration_seconds_bucket", worker="0",
                 step="CreateVM", le="5.0") == 1
    assert value(text, p + "reconcile_step_duration_seconds_count", worker="0",
                 step="Alive") == 1
    assert value(text, p + "worker_queue_depth", worker="0") == 7
    assert value(text, p + "worker_alive", worker="0") == 1
    assert value(text, p + "worker_alive", worker="1") == 0
    assert value(text, p + "worker_restarts_total", worker="0") == 2
    assert value(text, p + "resources", kind="router", status="configured") == 3
    assert value(text, p + "appliance_health", kind="router", health="healthy") == 3
    assert value(text, p + "appliance_health", kind="router", health="unhealthy") == 1
    assert value(text, p + "appliance_health", kind="loadbalancer", health="unhealthy") == 2
    assert total(text, p + "resources") == 6
