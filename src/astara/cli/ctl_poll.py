"""``astara-ctl poll --wait``: re-check every resource, then follow until each was looked at.

``PUT /poll/`` only queues the re-checks; with ``--wait`` the command reads
``GET /routers/`` (every kind) until every resource held before the poll has taken a
step since (its last step changed: no clock is compared across hosts), or until
``--timeout``. ``progress`` counts them (a bar on a terminal: ``common.progress``).
``looked_at`` is the pure rule; ``wait`` does the calls through ``ctl.call``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import httpx

from astara.common.progress import Progress

Mark = tuple | None  # a resource's last step: (at, step), None before its first


def marks(views: Iterable[dict]) -> dict[str, Mark]:
    out: dict[str, Mark] = {}
    for v in views:
        steps = v.get("steps") or []
        last = steps[-1] if steps and isinstance(steps[-1], dict) else None
        out[str(v.get("id"))] = (last.get("at"), last.get("step")) if last else None
    return out


def looked_at(before: dict[str, Mark], now: dict[str, Mark]) -> set[str]:
    """The resources held before the poll whose last step changed since (a resource
    gone meanwhile counts as done: nothing is left to look at)."""
    return {rid for rid, mark in before.items()
            if rid not in now or (now[rid] is not None and now[rid] != mark)}


def wait(http: httpx.Client, call: Callable[..., dict], progress: Progress,
         timeout: float, interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll, then follow; the answer says how many were re-checked of how many."""
    before = marks(call(http, "GET", "/routers/")["routers"])
    queued = call(http, "PUT", "/poll/").get("queued")
    progress.phase("resources re-checked", len(before))
    deadline, counted = clock() + timeout, 0
    done: set[str] = set()
    while True:
        done = looked_at(before, marks(call(http, "GET", "/routers/")["routers"]))
        progress.advance(len(done) - counted)
        counted = len(done)
        if counted >= len(before) or clock() >= deadline:
            break
        sleep(interval)
    waiting = sorted(set(before) - done)
    return {"queued": queued, "rechecked": counted, "of": len(before),
            "not_yet": waiting[:20], "timed_out": bool(waiting)}
