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
(``gc.unfreeze``) after every `THAW_AFTER` appliances removed: the next full
collection then walks, and frees, it all once. Memory kept is so bounded by that
many removed appliances' cycles.
"""

from __future__ import annotations

import gc

THAW_AFTER = 100  # appliances removed; one full walk of everything each time


def thaws(removed: int, thaw_after: int = THAW_AFTER) -> bool:
    """Whether this many removals since the last thaw call for one. Pure."""
    return removed >= thaw_after


class Collector:
    def __init__(self, thaw_after: int = THAW_AFTER) -> None:
        self.thaw_after = thaw_after
        self.removed = 0  # appliances removed since the last thaw
        self.freezes = 0

    def start(self) -> None:
        gc.callbacks.append(self._collected)

    def stop(self) -> None:
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)
        gc.unfreeze()

    def removed_one(self) -> None:
        self.removed += 1
        if thaws(self.removed, self.thaw_after):
            self.removed = 0
            gc.unfreeze()  # the next full collection walks, and frees, it all

    def _collected(self, phase: str, info: dict) -> None:
        # After a full collection every tracked object left is alive: freeze them all
        # (the collection is over; freezing only moves its lists).
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()
            self.freezes += 1
