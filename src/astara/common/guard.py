"""ASGI middleware in front of a control-plane API: authenticate, then bound the body.

Used by the orchestrator's RPC API and the appliance API. Both checks run before
routing, so every route (unknown ones included) refuses an unauthenticated
caller with 401 and a body over ``max_body`` bytes with 413, in the API's own
error format (``error(status, message)`` builds the JSON body). The body is read
here, bounded, and handed on to the application unchanged. A refused request's
body is read and dropped first (up to ``DRAIN_LIMIT``), so the caller gets its
answer rather than a connection reset half-way through sending.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers

Scope = dict[str, Any]
DRAIN_LIMIT = 64 * 1024 * 1024
ErrorBody = Callable[[int, str], dict]


def _send_error(send, status: int, body: dict, extra: list[tuple[bytes, bytes]] = ()):
    raw = json.dumps(body).encode()
    return _send(send, status, raw, [(b"content-type", b"application/json"),
                                     (b"content-length", str(len(raw)).encode()), *extra])


async def _send(send, status: int, raw: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _drain(receive, already: int = 0) -> None:
    size = already
    while size <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class Guard:
    def __init__(self, app, allowed: Callable[[Scope, Headers], bool], error: ErrorBody,
                 max_body: int, scheme: str) -> None:
        self.app, self.allowed, self.error = app, allowed, error
        self.max_body, self.scheme = max_body, scheme

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[dict]],
                       send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket: no route takes one, none gets past us
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = Headers(scope=scope)
        if not self.allowed(scope, headers):
            await _drain(receive)
            await _send_error(send, 401, self.error(401, "authentication required"),
                              [(b"www-authenticate", self.scheme.encode())])
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _drain(receive)
            await self._too_big(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                if message.get("more_body", False):
                    await _drain(receive, size)
                await self._too_big(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _too_big(self, send) -> None:
        await _send_error(send, 413, self.error(
            413, f"request body larger than {self.max_body} bytes"))


def replaying(body: bytes, receive):
    """A ``receive`` that hands the app ``body`` (read ahead by a middleware) once, then
    whatever ``receive`` gives (the disconnect)."""
    replayed = False

    async def replay() -> dict:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
