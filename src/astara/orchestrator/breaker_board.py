"""The rebuild breaker across worker processes: one shared board, judged by the parent.

Workers are separate processes sharded by tenant: none of them sees the whole
orchestrator. The parent (``service.Orchestrator``) already receives every
router's summary from the workers (snapshots, about once a second), and each
summary carries the router's latest status check. So the parent judges
self-suspicion from all of them (``reconcile.breaker.suspect``), logs once when
the breaker opens and once when it closes, and writes the verdict and the
window's rebuild budget on this board: a small array of doubles in shared
memory, created by the parent and handed to each worker process it spawns (a
restarted worker gets the same board, so nothing is forgotten). A worker about
to replace an appliance asks the board (``admit``) under the board's lock, which
also records the rebuild in a ring of timestamps: the budget holds across all the
workers at once, with no round trip to the parent. The decisions themselves are
the pure functions of ``reconcile.breaker``.

A worker killed while it holds the lock never releases it itself. The lock is a plain
(non-recursive) one, with its holder's pid in a header slot, so the parent, on reaping
a dead worker that held it, releases it for it (``release_dead``) and rebuilds are
admitted again. Until then (and if a worker dies between taking the lock and writing
its pid, a window of a few instructions), the parent writes
its verdict without the lock (it is the only writer of those slots, each one
double), its reads never wait for it, ``view`` waits a bounded time and then reads
as is, and ``admit`` that cannot get the lock in time holds the rebuild (the
router is looked at again later): nothing that supervises workers or answers
``/health/`` can hang on a dead worker's lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from astara.orchestrator.reconcile import breaker
from astara.orchestrator.reconcile.breaker import BreakerSettings, Suspicion, Verdict
from astara.orchestrator.reconcile.model import Decision, Memory

LOG = logging.getLogger(__name__)

# Slots of the shared array; the ring of rebuild times follows the header.
(OPEN, SINCE, FAILED, CHECKED, BUDGET, ROUTERS, HELD_SUSPECT, HELD_BUDGET, LOGGED, NEXT,
 HOLDER) = range(11)
HEADER = 11
RING = 4096  # rebuild times remembered: the budget of one window is capped at this
LOCK_TIMEOUT = 1.0  # s; the lock is held for microseconds unless its holder died

MEANING = ("status checks to most appliances fail at once: suspecting the orchestrator's "
           "own path to the appliances (the host's neighbour table, the management "
           "network, the appliance agent) rather than the appliances; none is replaced "
           "for failing status checks until checks answer again")


def new_array(ctx: Any) -> Any:
    """The shared array, from a ``multiprocessing`` context (the parent makes one).
    Its lock is a plain one: another process (the parent) may release it, which an
    RLock, owned by its holder, refuses."""
    return ctx.Array("d", HEADER + RING, lock=ctx.Lock())


class BreakerBoard:
    def __init__(self, array: Any, settings: BreakerSettings,
                 lock_timeout: float = LOCK_TIMEOUT):
        self._a, self._lock, self.s = array, array.get_lock(), settings
        # The raw shared doubles: indexing the synchronized wrapper would take its lock.
        self._raw = array.get_obj()
        self.lock_timeout = lock_timeout

    @contextlib.contextmanager
    def _locked(self) -> Iterator[bool]:
        """The board's lock for at most ``lock_timeout`` s: whether it was taken."""
        taken = self._lock.acquire(timeout=self.lock_timeout)
        if taken:
            self._raw[HOLDER] = os.getpid()
        try:
            yield taken
        finally:
            if taken:
                self._raw[HOLDER] = 0.0  # before the release: a holder seen is holding
                self._lock.release()

    def release_dead(self, pid: int) -> bool:
        """The parent, on reaping worker ``pid``: release the lock if that dead worker
        held it (a plain lock may be released by another process). Whether it did."""
        if pid <= 0 or int(self._raw[HOLDER]) != pid:
            return False
        self._raw[HOLDER] = 0.0
        self._lock.release()
        LOG.warning("rebuild breaker: worker pid %d died holding the board's lock; "
                    "released it", pid)
        return True

    # -- the parent --------------------------------------------------------------------
    def publish(self, suspicion: Suspicion, routers: int) -> Suspicion:
        """Write the parent's verdict, without the lock (the parent is its only
        writer; a worker reading meanwhile sees each slot old or new); returns the
        previous one."""
        a = self._raw
        was = self._suspicion()
        # OPEN is written so that a reader never sees it open without its time:
        # closed first when closing, open last when opening.
        if not suspicion.open:
            a[OPEN] = 0.0
        a[SINCE] = suspicion.since or 0.0
        a[FAILED], a[CHECKED] = suspicion.failed, suspicion.checked
        a[ROUTERS], a[BUDGET] = routers, min(RING, breaker.budget(routers, self.s))
        a[OPEN] = float(suspicion.open)
        return was

    def suspicion(self) -> Suspicion:
        return self._suspicion()

    def _suspicion(self) -> Suspicion:
        a = self._raw
        return Suspicion(bool(a[OPEN]), int(a[FAILED]), int(a[CHECKED]),
                         a[SINCE] if a[OPEN] else None)

    def view(self, now: float) -> dict:
        a = self._raw
        with self._locked() as taken:
            # Not taken (its holder died): the counters as they are, maybe mid-update.
            sus = self._suspicion()
            rebuilds = len(breaker.in_window(a[HEADER:], now, self.s.window))
            allowed = self._budget()
            held_suspect, held_budget = int(a[HELD_SUSPECT]), int(a[HELD_BUDGET])
            routers = int(a[ROUTERS])
        return {"state": "open" if sus.open else "closed", "since": sus.since,
                "open_for": round(now - sus.since, 1) if sus.since is not None else None,
                "failed": sus.failed, "checked": sus.checked,
                "failure_share": self.s.failure_share, "min_samples": self.s.min_samples,
                "routers": routers, "window": self.s.window,
                "rebuilds_in_window": rebuilds, "budget": allowed,
                "held_suspect": held_suspect, "held_budget": held_budget,
                "meaning": MEANING if sus.open else None,
                "board_locked": not taken}

    def _budget(self) -> int:
        return max(self.s.budget_min, int(self._raw[BUDGET]))

    # -- a worker ----------------------------------------------------------------------
    def admit(self, decision: Decision, memory: Memory, now: float, floor: float,
              cap: float, charge: bool = True) -> Decision:
        """``decision`` (a rebuild) if the breaker lets it through, recorded; else the
        same router looked at again later, with nothing done. Not ``charge``d (the same
        appliance's replacement decided again): the suspicion still holds it, the budget
        neither holds nor counts it."""
        assert decision.rebuild is not None
        a = self._raw
        with self._locked() as taken:
            if not taken:
                return self._stuck(decision, memory, floor)
            sus = self._suspicion()
            recent = breaker.in_window(a[HEADER:], now, self.s.window)
            allowed = self._budget()
            verdict = breaker.admit(decision.rebuild, sus.open,
                                    len(recent) if charge else 0, allowed)
            if verdict is Verdict.GO:
                if charge:
                    slot = int(a[NEXT]) % RING
                    a[HEADER + slot], a[NEXT] = now, slot + 1
                return decision
            if verdict is Verdict.SUSPECT:
                a[HELD_SUSPECT] += 1
            else:
                a[HELD_BUDGET] += 1
                held = int(a[HELD_BUDGET])
                tell = now - a[LOGGED] >= self.s.window
                if tell:
                    a[LOGGED] = now
        if verdict is Verdict.SUSPECT:
            after = breaker.suspect_backoff(now, sus.since, floor, cap)
            return breaker.hold(decision, verdict, memory, after,
                                f"{sus.failed} of {sus.checked} appliances checked fail")
        if tell:
            LOG.warning("rebuild budget spent: %d appliances replaced in the last %.0f s "
                        "(budget %d: %.0f%% of %d routers, at least %d); further automatic "
                        "rebuilds wait for room (%d held so far; an operator's "
                        "`astara-ctl router rebuild` still goes through)",
                        len(recent), self.s.window, allowed, self.s.budget_share * 100,
                        int(a[ROUTERS]), self.s.budget_min, held)
        after = max(floor, breaker.room_in(recent, now, self.s.window, allowed))
        return breaker.hold(decision, verdict, memory, after,
                            f"{len(recent)} rebuilds in the last {self.s.window:.0f} s, "
                            f"budget {allowed}")

    def _stuck(self, decision: Decision, memory: Memory, floor: float) -> Decision:
        # The budget cannot be counted: hold this rebuild rather than risk a storm.
        LOG.warning("rebuild breaker: its board's lock was not free for %.1f s (a worker "
                    "killed while holding it?); holding this rebuild", self.lock_timeout)
        return breaker.hold(decision, Verdict.OVER_BUDGET, memory, floor,
                            "the breaker's board is locked")


def checks(views: Iterable[dict]) -> list[breaker.Check]:
    """The latest checks in the routers' summaries (``runtime.summary``, as workers send)."""
    return [breaker.Check(c["at"], c["ok"]) for v in views if (c := v.get("check"))]


def judge(board: BreakerBoard, checks: list[breaker.Check], routers: int,
          now: float | None = None) -> Suspicion:
    """The parent's look (once a second): decide, publish, log a change once."""
    now = time.time() if now is None else now
    was = board.suspicion()
    sus = breaker.suspect(checks, now, board.s, was)
    board.publish(sus, routers)
    share = f"{board.s.failure_share:.0%}"
    if sus.open and not was.open:
        LOG.error("rebuild breaker OPEN: status checks to %d of %d appliances checked in "
                  "the last %.0f s failed (more than %s) since %s: %s; `astara-ctl health` "
                  "shows it", sus.failed, sus.checked, board.s.window, share,
                  time.strftime("%H:%M:%S", time.localtime(sus.since or now)), MEANING)
    elif was.open and not sus.open:
        LOG.warning("rebuild breaker closed: appliances answer their status checks again "
                    "(%d of %d failed, open for %.0f s); silent appliances may be replaced "
                    "again", sus.failed, sus.checked, now - (was.since or now))
    return sus
