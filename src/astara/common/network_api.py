"""A small client of the Neutron v2.0-compatible REST API that acts as its caller.

The compute and load-balancer services reach the network service (ours or a real
Neutron) through this: every call sends its caller's identity (the noauth headers
``X-Project-Id``, ``X-User-Id``, ``X-Roles``; keystonemiddleware sets the same) and the
caller's token when it has one, so the network API applies its own policy to what a
service does on a user's behalf. A network error is a ``NetworkError`` with Neutron's
status and message; an unreachable network service is the exception the owning
service's ``unreachable`` makes (each service answers it in its own API's format).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from astara.common import http_pool

_ID = re.compile(r"[A-Za-z0-9._:-]{1,255}")


class Caller(Protocol):
    """Whoever a call is made for (each service's request context is one)."""

    @property
    def project_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def roles(self) -> Sequence[str]: ...


class NetworkError(Exception):
    """The network API refused a call: its status and Neutron's message."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def identity_headers(caller: Caller) -> dict[str, str]:
    """The noauth identity headers Neutron reads (keystonemiddleware sets the same), and
    the caller's Keystone token when the call came with one (``auth_token``): a network
    API under ``auth_strategy = keystone`` drops those headers and reads the token."""
    headers = {"X-Project-Id": caller.project_id, "X-Roles": ",".join(caller.roles)}
    if caller.user_id:
        headers["X-User-Id"] = caller.user_id
    token = getattr(caller, "auth_token", None)
    if token:
        headers["X-Auth-Token"] = token
    return headers


def plain_id(value: str) -> bool:
    """An id that stays one path segment (``..``, ``/`` or ``?`` would leave it)."""
    return bool(_ID.fullmatch(value)) and value.strip(".") != ""


def seg(value: str) -> str:
    """An id as one path segment: every reserved character quoted, dots too (a ``..``
    must not climb out of the collection)."""
    return quote(value, safe="").replace(".", "%2E")


class NetworkApi:
    def __init__(self, url: str, unreachable: Callable[[str], Exception],
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None):
        self._client = httpx.Client(base_url=url.rstrip("/") + "/v2.0", timeout=timeout,
                                    transport=transport, limits=http_pool.limits())
        self._unreachable = unreachable

    def call(self, method: str, path: str, caller: Caller,
             body: dict | None = None, auth: httpx.Auth | None = None,
             params: list[tuple[str, str]] | None = None) -> dict | None:
        """The answer's JSON (None when empty, or for a GET that found nothing).
        ``auth``: the service's own token (``service_auth.ServiceToken``), for a call
        made as the service rather than for a caller."""
        try:
            resp = self._client.request(method, path, json=body, params=params,
                                        headers=identity_headers(caller),
                                        **({"auth": auth} if auth is not None else {}))
        except httpx.HTTPError as exc:
            raise self._unreachable(f"Network service unreachable: {exc}") from None
        if resp.status_code == 404 and method == "GET":
            return None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("NeutronError", {}) if resp.content else {}
            except ValueError:
                detail = {}
            message = detail.get("message", resp.text) if isinstance(detail, dict) \
                else resp.text
            raise NetworkError(resp.status_code, message)
        return resp.json() if resp.content else None

    def get(self, caller: Caller, kind: str, id_: str) -> dict[str, Any] | None:
        """A network, subnet or port the caller may see, or None."""
        if not plain_id(id_):
            return None
        found = self.call("GET", f"/{kind}s/{seg(id_)}", caller)
        return found[kind] if found else None

    def get_many(self, caller: Caller, kind: str, ids: Sequence[str]) -> dict[str, dict]:
        """Those of ``ids`` (networks, subnets or ports) the caller may see, by id, in one
        list call (the ``id`` filter, repeated): what ``get`` shows of each, since
        Neutron's list and show apply the same policy. One a list leaves out (not
        visible, or past a page limit) is simply absent."""
        wanted = [i for i in dict.fromkeys(ids) if plain_id(i)]
        if not wanted:
            return {}
        found = self.call("GET", f"/{kind}s", caller, params=[("id", i) for i in wanted])
        items = (found or {}).get(f"{kind}s") or []
        return {item["id"]: item for item in items
                if isinstance(item, dict) and item.get("id") in wanted}

    def delete_port(self, caller: Caller, port_id: str) -> None:
        """Delete a port; one already gone is fine."""
        try:
            self.call("DELETE", f"/ports/{seg(port_id)}", caller)
        except NetworkError as exc:
            if exc.status != 404:
                raise

    def close(self) -> None:
        self._client.close()
