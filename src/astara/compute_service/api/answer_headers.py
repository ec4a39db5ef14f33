"""The headers every compute API answer under ``/v2.1`` carries, as Nova's do.

Pure ASGI middleware, outermost: it gives each request its own request id (Nova
makes its own, whatever ``X-OpenStack-Request-ID`` the client sent) in
``scope["state"]["request_id"]`` for the handlers, and adds to any answer that lacks
them — Starlette's 404/405, a 401, a 406, the 413 of ``inbound.SizeLimit``, the
version document — the microversion headers and ``x-openstack-request-id`` /
``x-compute-request-id``.
"""

from __future__ import annotations

import uuid

from astara.compute_service.api import microversion

PREFIX = "/v2.1"


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def _missing(present: list[tuple[bytes, bytes]], wanted: dict[str, str]) -> list:
    have = {name.lower() for name, _ in present}
    return [(name.lower().encode(), value.encode("latin-1"))
            for name, value in wanted.items() if name.lower().encode() not in have]


class NovaHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return await self.app(scope, receive, send)
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        headers = {k.decode("latin-1"): v.decode("latin-1")
                   for k, v in scope.get("headers") or []}
        wanted = {**microversion.headers(microversion.echoed(microversion.requested(headers))),
                  "x-openstack-request-id": request_id, "x-compute-request-id": request_id}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = list(message.get("headers") or [])
                message = {**message, "headers": present + _missing(present, wanted)}
            await send(message)

        await self.app(scope, receive, send_with_headers)
