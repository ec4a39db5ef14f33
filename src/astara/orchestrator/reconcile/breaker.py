"""The rebuild breaker's decisions: suspect ourselves before many appliances, ration rebuilds.

Pure: plain values in, plain values out (no clock, no I/O). Two rules, after
Octavia's failover circuit breaker:

1. **Self-suspicion.** When more than ``failure_share`` of the working appliances
   checked in the last ``window`` seconds (their latest status call each, at least
   ``min_samples`` of them) failed to answer, the fault is more likely on our side
   (the host's neighbour table, the management network, the appliance agent) than
   in all of them at once: the breaker is *open* and no appliance is replaced for
   failing status calls (``Rebuild.SILENT``, ``Rebuild.BOOT_TIMEOUT``). The routers
   keep being looked at, less and less often; those looks are the breaker's probes:
   as they answer again, their latest check turns good and the breaker closes.
2. **Rebuild budget.** At most ``budget()`` automatic rebuilds (a share of the
   routers, at least ``budget_min``) start within any ``window`` seconds; the
   others wait until the window has room. A real failure the compute API reports
   (``Rebuild.INSTANCE``) and an HA member restarted for a split brain
   (``Rebuild.SPLIT_BRAIN``) are not held by rule 1, only rationed by rule 2; an
   operator's ``astara-ctl router rebuild`` (``Rebuild.OPERATOR``) is never held
   (it still counts in the window).

Where the inputs come from, and who applies the verdict: ``orchestrator.breaker_board``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass

from astara.orchestrator.reconcile.model import (
    Decision,
    Memory,
    Outcome,
    OutcomeKind,
    Rebuild,
    Status,
    Step,
)


@dataclass(frozen=True)
class BreakerSettings:
    """From the ``[orchestrator] rebuild_*`` options (``orchestrator.opts.breaker_settings``)."""

    failure_share: float
    min_samples: int
    budget_share: float
    budget_min: int
    window: float


@dataclass(frozen=True)
class Check:
    """The latest status call to one working (not booting) appliance."""

    at: float
    ok: bool


@dataclass(frozen=True)
class Suspicion:
    open: bool = False
    failed: int = 0
    checked: int = 0
    since: float | None = None  # when it opened


class Verdict(enum.StrEnum):
    GO = "go"
    SUSPECT = "suspect"  # held: we suspect our own path to the appliances
    OVER_BUDGET = "over-budget"  # held: the window's rebuilds are spent


def suspect(checks: Iterable[Check], now: float, s: BreakerSettings,
            was: Suspicion) -> Suspicion:
    """The breaker's state from every router's latest check (``was``: the last state)."""
    recent = [c for c in checks if now - c.at <= s.window]
    failed = sum(1 for c in recent if not c.ok)
    tripped = len(recent) >= s.min_samples and failed > s.failure_share * len(recent)
    since = (was.since if was.open and was.since is not None else now) if tripped else None
    return Suspicion(tripped, failed, len(recent), since)


def budget(routers: int, s: BreakerSettings) -> int:
    """Automatic rebuilds allowed within one window."""
    return max(s.budget_min, math.floor(s.budget_share * routers))


def in_window(rebuilds: Iterable[float], now: float, window: float) -> list[float]:
    """The rebuild times (0: an empty slot) less than ``window`` old. One a little after
    ``now`` counts too: another worker process read its clock a moment later."""
    return sorted(t for t in rebuilds if t > 0 and now - t < window)


def admit(kind: Rebuild, suspicion_open: bool, rebuilds_in_window: int,
          allowed: int) -> Verdict:
    if kind is Rebuild.OPERATOR:
        return Verdict.GO
    if suspicion_open and kind in (Rebuild.SILENT, Rebuild.BOOT_TIMEOUT):
        return Verdict.SUSPECT
    if rebuilds_in_window >= allowed:
        return Verdict.OVER_BUDGET
    return Verdict.GO


def room_in(rebuilds: list[float], now: float, window: float, allowed: int) -> float:
    """Seconds until the window has room for one more rebuild (``rebuilds``: in window,
    sorted)."""
    if len(rebuilds) < allowed:
        return 0.0
    return max(0.0, rebuilds[len(rebuilds) - allowed] + window - now)


def suspect_backoff(now: float, since: float | None, floor: float, cap: float) -> float:
    """Look again after as long as the breaker has been open (so doubling), in [floor, cap]."""
    return min(cap, max(floor, now - (since if since is not None else now)))


def hold(decision: Decision, verdict: Verdict, memory: Memory, after: float,
         detail: str) -> Decision:
    """``decision`` not taken: nothing is done, the router is looked at again after
    ``after`` seconds with ``memory`` as it was before this pass (the failures it counted
    stay counted, so the next look decides the same way unless something changed)."""
    assert decision.rebuild is not None
    status = Status.DEGRADED if decision.rebuild is Rebuild.SILENT else {
        Rebuild.BOOT_TIMEOUT: Status.BOOTING}.get(decision.rebuild, decision.status)
    what = ("suspecting the orchestrator's own path to the appliances"
            if verdict is Verdict.SUSPECT else "rebuild budget spent")
    return Decision(Step.CALC_ACTION, status, Outcome(OutcomeKind.REQUEUE, after),
                    f"{decision.reason}: held ({what}: {detail}); looking again in "
                    f"{after:.0f} s", memory)
