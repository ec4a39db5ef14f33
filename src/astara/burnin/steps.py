"""The burn-in framework shared by ``astara-burnin`` and ``astara-compute-burnin``.

A burn-in is a list of named steps run in order by a ``Runner``: each is timed,
ends ``ok``, ``warn`` (passed, but slower than its limit) or ``fail``; after the
first failure the rest are ``skipped`` (except an ``always`` step, e.g. cleanup),
and with ``keep`` the ``teardown`` steps are skipped so what was built stays up.
The ``Report`` holds the results and gives the JSON summary; ``progress`` (a
``common.progress.Progress``) is told each step as it starts and ends. ``wait`` polls a
condition until a deadline. No I/O here beyond the clock and the echo callback;
the scenarios (``astara.burnin.scenario``, ``astara.compute_service.burnin.scenario``) hold
what each step does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from astara.common.progress import SILENT, Progress

SKIPPED_AFTER_FAILURE = "skipped after an earlier failure"
KEPT = "kept up (--keep)"

# A run id names namespaces and links (15 characters at most, with a prefix) and
# resources: lower-case letters, digits and dashes keep every one of them valid.
RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,11}")


class StepFailed(Exception):
    """A step's check failed: the step is reported ``fail`` with this message."""


def check_run_id(value: str) -> str:
    """``value`` if it can name what a run creates, else ``ValueError`` saying why."""
    if not RUN_ID.fullmatch(value):
        raise ValueError(f"run id {value!r} must be 1 to 12 lower-case letters, digits "
                         "or dashes, starting with a letter or digit (it names the "
                         "run's namespaces, links and resources)")
    return value


@dataclass
class StepResult:
    name: str
    status: str = "skipped"  # ok | warn | fail | skipped
    seconds: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "warn")

    def line(self) -> str:
        return f"{self.status:7} {self.seconds:7.2f}s  {self.name} {self.detail}".rstrip()


@dataclass
class Report:
    run_id: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No step failed (warnings pass; skipped steps do not hide a failure)."""
        return not self.failed

    @property
    def failed(self) -> bool:
        return any(s.status == "fail" for s in self.steps)

    @property
    def seconds(self) -> float:
        return round(sum(s.seconds for s in self.steps), 3)

    def verdict(self) -> str:
        passed = sum(s.ok for s in self.steps)
        return (f"burn-in {self.run_id}: {'PASSED' if self.ok else 'FAILED'} in "
                f"{self.seconds:.1f} s ({passed}/{len(self.steps)} steps passed)")

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "ok": self.ok, "seconds": self.seconds,
                "steps": [asdict(s) for s in self.steps]}

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2)


@dataclass(frozen=True)
class Step:
    """One step of a scenario: what to run and how the runner treats it."""
    name: str
    fn: Callable[[], Any]
    warn_after: float | None = None
    always: bool = False     # runs even after a failure (cleanup)
    teardown: bool = False   # removes what the run built: skipped with ``keep``
    skip: str = ""           # not run at all, reported skipped with this reason


class Runner:
    def __init__(self, report: Report, echo: Callable[[str], None] | None = None,
                 keep: bool = False, clock: Callable[[], float] = time.monotonic,
                 progress: Progress = SILENT):
        self.report, self.echo, self.keep, self.clock = report, echo, keep, clock
        self.progress = progress

    def run(self, steps: list[Step]) -> Report:
        self.progress.phase(f"burn-in {self.report.run_id}", len(steps))
        for s in steps:
            self.progress.now(s.name)
            self.step(s.name, s.fn, s.warn_after, always=s.always, teardown=s.teardown,
                      skip=s.skip)
            self.progress.advance()
        return self.report

    def step(self, name: str, fn: Callable[[], Any], warn_after: float | None = None, *,
             always: bool = False, teardown: bool = False, skip: str = "") -> Any:
        """Run ``fn`` as the step ``name``; its result (a string is the step's detail)
        is returned, ``None`` when the step failed or was skipped. Never raises for a
        failing step: the report says it."""
        result = StepResult(name)
        self.report.steps.append(result)
        if skip:
            result.detail = skip
        elif teardown and self.keep:
            result.detail = KEPT
        elif self.report.failed and not always:
            result.detail = SKIPPED_AFTER_FAILURE
        else:
            value = self._time(result, fn, warn_after)
            self._echo(result)
            return value
        self._echo(result)
        return None

    def _time(self, result: StepResult, fn: Callable[[], Any],
              warn_after: float | None) -> Any:
        start = self.clock()
        value = None
        try:
            value = fn()
            result.status = "ok"
            result.detail = value if isinstance(value, str) else ""
        except Exception as exc:  # every failure is reported, never raised
            result.status, result.detail = "fail", f"{type(exc).__name__}: {exc}"
        result.seconds = round(self.clock() - start, 3)
        if result.status == "ok" and warn_after is not None and result.seconds > warn_after:
            result.status = "warn"
            result.detail = f"{result.detail} (slower than {warn_after:g} s)".strip()
        return value

    def _echo(self, result: StepResult) -> None:
        if self.echo is not None:
            self.echo(result.line())


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poll ``check`` until it returns something true, and return that. Other errors
    are taken as transient (things coming up) and named on timeout; a ``StepFailed``
    from ``check`` is final and raised at once."""
    deadline = clock() + timeout
    last: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except StepFailed:
            raise
        except Exception as exc:  # transient while things come up; reported on timeout
            last = exc
        if clock() >= deadline:
            raise StepFailed(f"{what} not within {timeout:g} s"
                             + (f" (last error: {last})" if last else ""))
        sleep(interval)
