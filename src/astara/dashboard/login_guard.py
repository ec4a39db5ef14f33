"""Bounds on Keystone logins: how many run at once, and a back-off after failures.

Each login holds a thread for up to ``api_timeout`` while Keystone answers, and the
login form needs no session: so at most ``MAX_CONCURRENT`` run at once (more are told
the dashboard is busy), and a user name or a client address that keeps failing waits
before its next try (the dashboard is no unthrottled password-guessing proxy).
``wait_for`` and ``failed`` are plain decisions on a clock, with no I/O.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

MAX_CONCURRENT = 8
FREE_FAILURES = 3  # failures before any wait
MAX_WAIT = 60.0
MAX_KEYS = 10_000


def wait_after(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row: none for the first few,
    then doubling from 1 s, at most ``MAX_WAIT``."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_WAIT, 2.0 ** (failures - FREE_FAILURES))


class LoginGuard:
    def __init__(self, clock: Callable[[], float], max_concurrent: int = MAX_CONCURRENT):
        self._clock = clock
        self.slots = asyncio.Semaphore(max_concurrent)
        self._failures: dict[str, tuple[int, float]] = {}  # key -> failures, until
        self._lock = threading.Lock()

    def busy(self) -> bool:
        return self.slots.locked()

    def wait_for(self, keys: list[str]) -> float:
        """Seconds any of ``keys`` (a user, a client address) must still wait."""
        now = self._clock()
        with self._lock:
            return max([self._failures.get(k, (0, now))[1] - now for k in keys] + [0.0])

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:  # bounded: the lapsed go, then all
                self._failures = {k: v for k, v in self._failures.items()
                                  if v[1] > now - MAX_WAIT}
                if len(self._failures) >= MAX_KEYS:
                    self._failures.clear()
            for key in keys:
                n = self._failures.get(key, (0, now))[0] + 1
                self._failures[key] = (n, now + wait_after(n))

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
