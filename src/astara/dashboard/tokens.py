"""Keystone tokens kept server-side: the session cookie holds only an opaque id.

A token never leaves the dashboard process (never in a cookie, a page or a log): a
login puts it here under a random id (``secrets.token_urlsafe``, 256 bits) that the
signed session cookie carries; each request looks the token up by that id. It lives
in this process's memory only, so a restart of the dashboard ends every Keystone
login (the user logs in again). Bounded per user: past ``max_per_user`` tokens of one
user, that user's oldest goes (and is handed back to be revoked), never another user's;
expired tokens go at each ``put``; past ``max_entries`` in all, the oldest.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable

MAX_ENTRIES = 10_000
MAX_PER_USER = 10


class TokenStore:
    def __init__(self, clock: Callable[[], float], max_entries: int = MAX_ENTRIES,
                 max_per_user: int = MAX_PER_USER):
        self._clock = clock
        self._max = max_entries
        self._per_user = max_per_user
        self._tokens: OrderedDict[str, tuple[str, float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tokens)

    def put(self, token: str, expires_at: float, user_id: str = "") -> tuple[str, list[str]]:
        """The opaque id of ``token``, valid until ``expires_at`` (epoch seconds), and
        the live tokens it pushed out (this user's oldest): the caller revokes them."""
        sid = secrets.token_urlsafe(32)
        pushed: list[str] = []
        with self._lock:
            now = self._clock()
            for old in [k for k, (_, e, _u) in self._tokens.items() if e <= now]:
                del self._tokens[old]
            mine = [k for k, (_, _e, u) in self._tokens.items() if u == user_id]
            for old in mine[:max(0, len(mine) + 1 - self._per_user)]:
                pushed.append(self._tokens.pop(old)[0])
            self._tokens[sid] = (token, expires_at, user_id)
            while len(self._tokens) > self._max:
                self._tokens.popitem(last=False)
        return sid, pushed

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
