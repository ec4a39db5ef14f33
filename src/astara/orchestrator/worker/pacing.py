"""When a worker process reports to the parent (pure; ``process._report`` asks it).

Right after the worker starts, the parent's views (and whoever waits on them after a
restart) want every router's first pass as soon as it is done: while ``eager`` the
worker looks every ``eager_tick`` and reports once it is idle (its start-up batch
passed) or ``eager_interval`` after its last report. The first report sent while
idle ends that phase; from then on reports are coalesced on the ``interval`` tick,
so 1,000 routers being health-checked cost one message a second, not one a check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReportPacer:
    interval: float = 1.0
    eager_tick: float = 0.05
    eager_interval: float = 0.25
    eager: bool = True
    last: float = float("-inf")

    @property
    def tick(self) -> float:
        return self.eager_tick if self.eager else self.interval

    def due(self, now: float, changed: bool, idle: bool) -> bool:
        if not changed:
            return False
        if self.eager:
            return idle or now - self.last >= self.eager_interval
        return True  # the tick itself spaces reports by ``interval``

    def sent(self, now: float, idle: bool) -> None:
        self.last = now
        if idle:
            self.eager = False
