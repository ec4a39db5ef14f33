"""When an appliance that worked stops answering its status call: wait, keep, or replace.

Pure. A timeout or a 5xx is often a hiccup (a busy agent, a reload, a lost packet),
and replacing the appliance cuts every tenant flow through it. So a working
appliance is replaced only after ``threshold`` failed passes spread over at least
``period`` seconds, and never while it still forwards: the compute API says its
instance is ACTIVE and it still answers on its management address.
"""

from __future__ import annotations

import enum

from astara.orchestrator.reconcile.model import Appliance, Memory


class Verdict(enum.StrEnum):
    WAIT = "wait"  # not enough failures yet, or not spread over the period: look again
    KEEP = "keep"  # it failed long enough but still forwards: leave it alone
    REPLACE = "replace"  # silent long enough and nothing answers: rebuild it


def still_forwards(instance_status: str, app: Appliance | None) -> bool:
    return instance_status == "ACTIVE" and app is not None and bool(app.answers_probe)


def judge(memory: Memory, now: float, forwards: bool, threshold: int,
          period: float) -> Verdict:
    """``memory`` already counts this pass's failure."""
    since = memory.silent_since if memory.silent_since is not None else now
    if memory.silent_count < threshold or now - since < period:
        return Verdict.WAIT
    return Verdict.KEEP if forwards else Verdict.REPLACE


def spacing(threshold: int, period: float, floor: float) -> float:
    """Seconds between two looks, so ``threshold`` failures span ``period``."""
    return max(floor, period / max(1, threshold - 1))
