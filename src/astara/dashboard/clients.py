"""The dashboard's only way to the world: the public APIs over HTTP, as the user.

Every call carries the session's identity (the noauth headers the APIs read, as
keystonemiddleware would set them); the orchestrator's RPC API also gets the operator
token, and only for a session with the admin role. A refusal or an unreachable service
is an ``ApiError`` whose message is in plain words (``plain_message``), never a body
dump or a traceback.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from astara.dashboard.session import Identity
from astara.dashboard.settings import DashboardSettings

PREFIX = {"network": "/v2.0", "compute": "/v2.1", "loadbalancer": "/v2", "rpc": ""}
NAMES = {"network": "network API", "compute": "compute API",
         "loadbalancer": "load-balancer API", "rpc": "orchestrator"}
MAX_MESSAGE = 300


class ApiError(Exception):
    def __init__(self, status: int, message: str, service: str = ""):
        self.status = status
        self.message = message
        self.service = service  # which API refused ("" when the dashboard did)
        super().__init__(message)


def seg(value: str) -> str:
    """An id as one path segment (never a way out of its collection)."""
    return quote(value, safe="").replace(".", "%2E")


def plain_message(service: str, status: int, text: str) -> str:
    """What an API said when it refused, in its own words when it gave some."""
    found = None
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("NeutronError"), dict):  # Neutron
            found = body["NeutronError"].get("message")
        elif isinstance(body.get("faultstring"), str):  # Octavia
            found = body["faultstring"]
        elif isinstance(body.get("error"), dict):  # orchestrator RPC
            found = body["error"].get("message")
        elif len(body) == 1 and isinstance(next(iter(body.values())), dict):  # Nova
            found = next(iter(body.values())).get("message")
        elif isinstance(body.get("description"), str):
            found = body["description"]
    if not isinstance(found, str) or not found.strip():
        found = {401: "not logged in", 403: "not allowed", 404: "not found",
                 409: "in conflict with the resource's current state"}.get(
                     status, f"failed (HTTP {status})")
    found = " ".join(found.split())[:MAX_MESSAGE]
    return f"The {NAMES[service]} says: {found}"


class Apis:
    def __init__(self, settings: DashboardSettings, rpc_token: bytes = b"",
                 transport: httpx.AsyncBaseTransport | None = None):
        self.base = {"network": settings.network_url, "compute": settings.compute_url,
                     "loadbalancer": settings.loadbalancer_url, "rpc": settings.rpc_url}
        self.rpc_token = rpc_token
        self.rpc_token_file = settings.rpc_auth_token_file
        self.http = httpx.AsyncClient(timeout=settings.api_timeout, transport=transport)
        # Keystone: a token_check.TokenCheck (set by the app) that the orchestrator's
        # calls ask first for the user's roles now; None under noauth.
        self.check: Any = None

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, service: str, method: str, path: str, who: Identity,
                   body: dict | None = None, params: dict | None = None,
                   headers: dict[str, str] | None = None) -> Any:
        """``headers``: extra request headers (a microversion), never the identity's."""
        headers = {**(headers or {}), **who.headers()}
        if service == "rpc":
            admin = who.is_admin
            if who.auth_token and self.check is not None:  # Keystone's word, not the cookie's
                admin = "admin" in await self.check.roles(who.auth_token)
            if not admin:
                raise ApiError(403, "Only an admin session reaches the orchestrator.")
            if not self.rpc_token:  # an operator's problem, not the session's
                raise ApiError(503, "The orchestrator's RPC token file "
                                    f"({self.rpc_token_file or 'not set'}) cannot be read "
                                    "by the dashboard: see its log, and "
                                    "[dashboard] rpc_auth_token_file.")
            headers["X-Auth-Token"] = self.rpc_token.decode()
        url = self.base[service].rstrip("/") + PREFIX[service] + path
        try:
            r = await self.http.request(method, url, json=body, params=params,
                                        headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(503, f"The {NAMES[service]} cannot be reached "
                                f"({type(exc).__name__}).") from None
        if r.status_code >= 400:
            raise ApiError(r.status_code, plain_message(service, r.status_code, r.text),
                           service)
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            raise ApiError(502, f"The {NAMES[service]} answered something that is not "
                                "JSON.") from None

    # shorthands -------------------------------------------------------------------
    async def get(self, service: str, path: str, who: Identity,
                  headers: dict[str, str] | None = None, **params) -> Any:
        return await self.call(service, "GET", path, who,
                               params={k: v for k, v in params.items() if v is not None},
                               headers=headers)

    async def post(self, service: str, path: str, who: Identity, body: dict | None = None):
        return await self.call(service, "POST", path, who, body=body)

    async def put(self, service: str, path: str, who: Identity, body: dict | None = None,
                  headers: dict[str, str] | None = None):
        return await self.call(service, "PUT", path, who, body=body, headers=headers)

    async def delete(self, service: str, path: str, who: Identity) -> None:
        await self.call(service, "DELETE", path, who)
