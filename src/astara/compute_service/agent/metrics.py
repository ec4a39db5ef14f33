"""The compute agent's Prometheus collector: jobs it finished, by operation and status.
Served on the agent's own listener (``[compute_service] agent_metrics_port``): the
agent has no API."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from astara.common import metrics
from astara.compute_service.agent.worker import Agent


def register(registry: CollectorRegistry, agent: Agent) -> None:
    registry.register(metrics.Counts(
        "astara_compute_agent_jobs", "Jobs this agent finished, by operation and status "
        "(done, failed).", ["op", "status"], agent.counts))
