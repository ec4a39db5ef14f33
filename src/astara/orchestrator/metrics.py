"""The orchestrator's Prometheus metrics, read from the parent's view at each scrape.

The reconcile work happens in worker processes; each sends its tally
(``reconcile.tally``) with its stats, and this collector renders the latest of every
live worker, labelled by worker index (a restarted worker's counters start again at
zero, which Prometheus reads as a counter reset). Resources and their appliances'
health come from the workers' snapshots; the RPC API serves all of it on ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from astara.orchestrator.reconcile.tally import STEP_BUCKETS
from astara.orchestrator.service import Orchestrator

P = "astara_orchestrator_"


def _bucket_bounds() -> list[str]:
    return [repr(float(b)) for b in STEP_BUCKETS] + ["+Inf"]


class OrchestratorMetrics(Collector):
    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator:
        yield from self._workers()
        yield from self._resources()

    def _workers(self) -> Iterator:
        passes = CounterMetricFamily(P + "reconcile_passes", "Reconcile passes, by worker "
                                     "and outcome.", labels=["worker", "outcome"])
        steps = CounterMetricFamily(P + "reconcile_steps", "Steps performed, by worker, "
                                    "step, outcome and result (ok or error).",
                                    labels=["worker", "step", "outcome", "result"])
        durations = HistogramMetricFamily(P + "reconcile_step_duration_seconds",
                                          "Time to perform a step, by worker and step.",
                                          labels=["worker", "step"])
        queued = GaugeMetricFamily(P + "worker_queue_depth", "Keys waiting in a worker's "
                                   "dirty-key queue (delayed requeues included).",
                                   labels=["worker"])
        alive = GaugeMetricFamily(P + "worker_alive", "1 while the worker process runs.",
                                  labels=["worker"])
        restarts = CounterMetricFamily(P + "worker_restarts", "Times the worker process was "
                                       "restarted after it died.", labels=["worker"])
        bounds = _bucket_bounds()
        for w in self.orch.workers:
            index = str(w.index)
            proc = w.proc
            alive.add_metric([index], 1 if proc is not None and proc.is_alive() else 0)
            restarts.add_metric([index], w.restarts)
            stats, tally = w.stats, w.metrics
            if "queued" in stats:
                queued.add_metric([index], stats["queued"])
            for outcome, n in sorted(tally.get("outcomes", {}).items()):
                passes.add_metric([index, outcome], n)
            for (step, outcome, result), n in sorted(tally.get("steps", {}).items()):
                steps.add_metric([index, step, outcome, result], n)
            for step, (cumulative, total, _count) in sorted(tally.get("durations", {}).items()):
                durations.add_metric([index, step], list(zip(bounds, cumulative, strict=True)),
                                     total)
        yield from (passes, steps, durations, queued, alive, restarts)

    def _resources(self) -> Iterator:
        resources = GaugeMetricFamily(P + "resources", "Routers and load balancers the "
                                      "workers hold, by kind and status.",
                                      labels=["kind", "status"])
        appliances = GaugeMetricFamily(P + "appliance_health", "Resources by kind and "
                                       "whether their appliance passed its latest check.",
                                       labels=["kind", "health"])
        by_status: dict[tuple[str, str], int] = {}
        by_health: dict[tuple[str, str], int] = {}
        for (kind, status, healthy), n in self.orch.resource_counts().items():
            by_status[(kind, status)] = by_status.get((kind, status), 0) + n
            key = (kind, "healthy" if healthy else "unhealthy")
            by_health[key] = by_health.get(key, 0) + n
        for labels, n in sorted(by_status.items()):
            resources.add_metric(list(labels), n)
        for labels, n in sorted(by_health.items()):
            appliances.add_metric(list(labels), n)
        yield resources
        yield appliances
