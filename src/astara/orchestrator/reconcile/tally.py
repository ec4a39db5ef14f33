"""What the reconcile passes of one worker process did, counted as plain data.

The executor records each step it performs (by step, outcome and whether it failed,
with its duration in fixed buckets); the worker records each pass's outcome. The
worker sends ``snapshot()`` to the parent with its stats (picklable, a few hundred
bytes), and the parent's ``/metrics`` renders every worker's (``orchestrator.metrics``).
No clock and no Prometheus here: the caller passes the seconds.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field

# A step is an API call or a push (tens of ms) or a boot wait (tens of seconds).
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Durations:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(STEP_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        # bucket i holds what is <= STEP_BUCKETS[i] (the last one: above them all)
        self.buckets[bisect.bisect_left(STEP_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for n in self.buckets:
            running += n
            out.append(running)
        return out


@dataclass
class Tally:
    # (step, outcome, "ok" | "error") -> steps performed
    steps: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    durations: dict[str, Durations] = field(default_factory=dict)
    # outcome of each pass -> passes
    outcomes: Counter[str] = field(default_factory=Counter)
    # Passes run in several threads at once: no increment may be lost.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def step(self, step: str, outcome: str, ok: bool, seconds: float) -> None:
        with self._lock:
            self.steps[(step, outcome, "ok" if ok else "error")] += 1
            self.durations.setdefault(step, Durations()).add(seconds)

    def outcome(self, kind: str) -> None:
        with self._lock:
            self.outcomes[kind] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"steps": dict(self.steps), "outcomes": dict(self.outcomes),
                    "durations": {s: (d.cumulative(), d.total, d.count)
                                  for s, d in self.durations.items()}}
