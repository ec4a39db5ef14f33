"""Instances by state and jobs by status as Prometheus gauges, counted at each scrape.

Served by the compute API's ``/metrics`` (it reads the database the dispatcher writes):
``astara_compute_instances{vm_state}`` (instances not deleted) and
``astara_compute_jobs{op,status}`` (the jobs the table holds: pending, running, and the
done or failed ones kept). Label values are the service's own states, never a project.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from astara.compute_service.models import Instance, Job
from astara.db.engine import Database

LOG = logging.getLogger(__name__)


class ComputeStates(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> list:
        return []  # read at scrape time: registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.db.read() as s:
                instances = s.execute(
                    select(Instance.vm_state, func.count()).where(Instance.deleted.is_(False))
                    .group_by(Instance.vm_state)).all()
                jobs = s.execute(select(Job.op, Job.status, func.count())
                                 .group_by(Job.op, Job.status)).all()
        except Exception:  # a scrape must not fail on a busy database: leave them out
            LOG.warning("metrics: instance and job counts unreadable", exc_info=True)
            return
        by_state = GaugeMetricFamily("astara_compute_instances",
                                     "Instances not deleted, by vm_state.", labels=["vm_state"])
        for state, n in instances:
            by_state.add_metric([state], n)
        by_status = GaugeMetricFamily("astara_compute_jobs",
                                      "Jobs in the job table, by operation and status.",
                                      labels=["op", "status"])
        for op, status, n in jobs:
            by_status.add_metric([op, status], n)
        yield by_state
        yield by_status
