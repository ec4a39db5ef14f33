"""Keystone tokens kept server-side: the session cookie holds only an opaque id.

A token never leaves the dashboard process (never in a cookie, a page or a log): a
login puts it here under a random id (``secrets.token_urlsafe``, 256 bits) that the
signed session cookie carries; each request looks the token up by that id. It lives
in this process's memory only, so a restart of the dashboard ends every Keystone
login (the user logs in again). Bounded: past ``max_entries``, expired tokens go
first, then the oldest.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable

MAX_ENTRIES = 10_000


class TokenStore:
    def __init__(self, clock: Callable[[], float], max_entries: int = MAX_ENTRIES):
        self._clock = clock
        self._max = max_entries
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tokens)

    def put(self, token: str, expires_at: float) -> str:
        """The opaque id of ``token``, valid until ``expires_at`` (epoch seconds)."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[sid] = (token, expires_at)
            if len(self._tokens) > self._max:
                now = self._clock()
                for old in [k for k, (_, e) in self._tokens.items() if e <= now]:
                    del self._tokens[old]
                while len(self._tokens) > self._max:
                    self._tokens.popitem(last=False)
        return sid

    def get(self, sid: str | None) -> str | None:
        """The token of ``sid`` while it has not expired, else None (and forgotten)."""
        if not sid:
            return None
        with self._lock:
            found = self._tokens.get(sid)
            if found is None:
                return None
            if found[1] <= self._clock():
                del self._tokens[sid]
                return None
            return found[0]

    def pop(self, sid: str | None) -> str | None:
        if not sid:
            return None
        with self._lock:
            found = self._tokens.pop(sid, None)
        return found[0] if found else None
