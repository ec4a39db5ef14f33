"""Step bookkeeping of the burn-in: timings, results, the JSON summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


class StepFailed(Exception):
    pass


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""
    warning: str = ""


@dataclass
class Report:
    run_id: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "ok": self.ok,
                "seconds": round(sum(s.seconds for s in self.steps), 3),
                "steps": [asdict(s) for s in self.steps]}


class Runner:
    def __init__(self, report: Report, echo: Callable[[str], None] = print):
        self.report, self.echo = report, echo

    def step(self, name: str, fn: Callable[[], Any], warn_after: float | None = None) -> Any:
        t0 = time.monotonic()
        try:
            value = fn()
        except Exception as exc:  # any failure of a step is reported, not raised
            seconds = time.monotonic() - t0
            self.report.steps.append(StepResult(name, False, round(seconds, 3),
                                                f"{type(exc).__name__}: {exc}"))
            self.echo(f"FAIL {name} ({seconds:.2f} s): {exc}")
            raise StepFailed(name) from exc
        seconds = time.monotonic() - t0
        warning = f"slower than {warn_after:.0f} s" if warn_after and seconds > warn_after \
            else ""
        self.report.steps.append(StepResult(name, True, round(seconds, 3), "", warning))
        self.echo(f"ok   {name} ({seconds:.2f} s){' WARNING ' + warning if warning else ''}")
        return value


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # transient while things come up; reported on timeout
            last = exc
        if time.monotonic() > deadline:
            raise StepFailed(f"{what} not within {timeout:.0f} s"
                             + (f" (last error: {last})" if last else ""))
        time.sleep(interval)
