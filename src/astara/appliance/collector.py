"""CPython's cyclic garbage collector, set for an agent holding many appliances.

Used by `cli` in host mode; `host` reports each appliance it stops serving. A full
collection walks every object the collector tracks and holds the interpreter while
it does: at 1,000 appliances the agent holds about 265,000 of them (their documents,
rulesets, servers, metrics) and a full collection paused every push and status
answer for 60-150 ms, more as the host filled (`bench/appliance_host.py`). Those
objects live as long as their appliance, so walking them again finds nothing.

`Collector` freezes (``gc.freeze``) what survives each full collection: the next
ones walk only what is younger. What a frozen object references is still freed by
reference counting; only a reference *cycle* that becomes garbage once frozen
(an appliance stopped being served) is kept, until the collector thaws
(``gc.unfreeze``) after every `THAW_AFTER` appliances removed, or at the first full
collection `THAW_EVERY` seconds after the last thaw (what was in flight when a
collection froze it, a request's cycles, dies later too): the next full collection
then walks, and frees, it all once. Memory kept is so bounded by that many removed
appliances' cycles and that long's in-flight ones.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

THAW_AFTER = 100  # appliances removed; one full walk of everything each time
THAW_EVERY = 600.0  # seconds: at most one full walk of everything per this long


def thaws(removed: int, thaw_after: int = THAW_AFTER) -> bool:
    """Whether this many removals since the last thaw call for one. Pure."""
    return removed >= thaw_after


def stale(since_thaw: float, every: float = THAW_EVERY) -> bool:
    """Whether what is frozen has been kept long enough to be walked again. Pure."""
    return since_thaw >= every


class Collector:
    def __init__(self, thaw_after: int = THAW_AFTER, thaw_every: float = THAW_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thaw_after, self.thaw_every, self.clock = thaw_after, thaw_every, clock
        self.removed = 0  # appliances removed since the last thaw
        self.freezes = 0
        self.thawed_at = clock()

    def start(self) -> None:
        gc.callbacks.append(self._collected)

    def stop(self) -> None:
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)
        gc.unfreeze()

    def removed_one(self) -> None:
        self.removed += 1
        if thaws(self.removed, self.thaw_after):
            self._thaw()

    def _thaw(self) -> None:
        self.removed, self.thawed_at = 0, self.clock()
        gc.unfreeze()  # the next full collection walks, and frees, it all

    def _collected(self, phase: str, info: dict) -> None:
        # After a full collection every tracked object left is alive: freeze them all
        # (the collection is over; freezing only moves its lists); kept too long, they
        # are thawed instead, for the next one to walk.
        if phase == "stop" and info["generation"] == 2:
            if stale(self.clock() - self.thawed_at, self.thaw_every):
                self._thaw()
                return
            gc.freeze()
            self.freezes += 1
