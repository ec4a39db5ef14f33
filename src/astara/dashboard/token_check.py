"""A Keystone login's token checked again before the dashboard acts with its own power.

The admin pages act on the orchestrator with the dashboard's operator token (the RPC
API knows no Keystone): the user's admin role is then the dashboard's only check. So
under Keystone the roles are never taken from the session cookie (frozen at login):
before an admin page runs, and before any orchestrator call, the user's token is
validated again (``GET /v3/auth/tokens``, the token validating itself) and the roles
are taken from Keystone's answer. An answer is trusted for ``VALID_FOR`` seconds: a
revoked token or a removed role takes effect within that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import httpx

from astara.dashboard.clients import ApiError

VALID_FOR = 30.0
MAX_CACHED = 10_000
ENDED = ("Your Keystone login has ended (its token expired, was revoked, or the "
         "dashboard restarted): log in again.")


def roles_of(body: object) -> tuple[str, ...] | None:
    """The role names of a ``GET /v3/auth/tokens`` answer (None: not such an answer)."""
    token = body.get("token") if isinstance(body, dict) else None
    roles = token.get("roles") if isinstance(token, dict) else None
    if not isinstance(roles, list):
        return None
    return tuple(r["name"] for r in roles if isinstance(r, dict) and
                 isinstance(r.get("name"), str))


class TokenCheck:
    def __init__(self, http: httpx.AsyncClient, identity_url: str,
                 clock: Callable[[], float], valid_for: float = VALID_FOR):
        self.http = http
        self.url = identity_url.rstrip("/") + "/auth/tokens"
        self.clock = clock
        self.valid_for = valid_for
        self._seen: dict[str, tuple[tuple[str, ...], float]] = {}  # sha256 -> roles, until

    async def roles(self, token: str) -> tuple[str, ...]:
        """The token's roles now (cached ``valid_for`` s); ``ApiError`` 401 from the
        service ``identity`` when Keystone no longer takes it (the session then ends)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self.clock()
        found = self._seen.get(key)
        if found is not None and found[1] > now:
            return found[0]
        try:
            r = await self.http.get(self.url, headers={"X-Auth-Token": token,
                                                       "X-Subject-Token": token})
        except httpx.HTTPError as exc:
            raise ApiError(503, "Keystone cannot be reached to check your login "
                                f"({type(exc).__name__}): try again.") from None
        if r.status_code in (401, 403, 404):
            self._seen.pop(key, None)
            raise ApiError(401, ENDED, "identity")
        try:
            roles = roles_of(r.json()) if r.status_code == 200 else None
        except ValueError:
            roles = None
        if roles is None:
            raise ApiError(502, f"Keystone answered the check of your login with HTTP "
                                f"{r.status_code}: try again.")
        if len(self._seen) >= MAX_CACHED:
            self._seen = {k: v for k, v in self._seen.items() if v[1] > now}
            if len(self._seen) >= MAX_CACHED:
                self._seen.clear()
        self._seen[key] = (roles, now + self.valid_for)
        return roles
