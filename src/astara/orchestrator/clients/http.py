"""What the HTTP clients share: one httpx client, a call counter, and the rule
that transport errors, 5xx and 409 are ``RemoteError`` (worth a retry); ``_ok`` makes
any other unexpected answer one too: one log line with the body, not a traceback."""

from __future__ import annotations

import httpx

from astara.common import http_pool
from astara.orchestrator.clients.base import RemoteError


class HttpApi:
    def __init__(self, name: str, base_url: str, headers: dict[str, str], timeout: float,
                 auth: httpx.Auth | None = None):
        """``auth``: the service user's Keystone token (``endpoints``); None: noauth."""
        self._name = name
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                                  limits=http_pool.limits(),
                                  **({"auth": auth} if auth is not None else {}))
        self.calls = 0

    def close(self) -> None:
        self._http.close()

    def _req(self, method: str, path: str, **kw) -> httpx.Response:
        self.calls += 1
        try:
            r = self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise RemoteError(f"{self._name} unreachable: {exc}") from exc
        if r.status_code >= 500 or r.status_code == 409:
            raise RemoteError(f"{self._name} {method} {path}: {r.status_code} {r.text[:200]}")
        return r

    def _all_pages(self, path: str, key: str, params: dict, max_pages: int = 10_000) -> list:
        """Every item of a Neutron/Nova list that pages by ``<key>_links`` (rel "next",
        its href carrying the marker): a server's ``max_limit`` must not hide items."""
        items: list = []
        params = dict(params)
        for _ in range(max_pages):
            r = self._req("GET", path, params=params)
            self._ok(r)
            body = r.json()
            page = body.get(key) or []
            items.extend(page)
            nxt = [link.get("href") for link in body.get(f"{key}_links") or ()
                   if isinstance(link, dict) and link.get("rel") == "next"]
            marker = httpx.URL(nxt[0]).params.get("marker") if nxt and nxt[0] else None
            if not page or not marker or marker == params.get("marker"):
                return items
            params["marker"] = marker
        raise RemoteError(f"{self._name} GET {path}: more than {max_pages} pages")

    def _ok(self, r: httpx.Response) -> None:
        if not r.is_success:
            raise RemoteError(f"{self._name} {r.request.method} {r.request.url.path}: "
                              f"{r.status_code} {r.text[:200]}")
