"""Bounds on what a compute API request may carry, checked before any handler runs.

``SizeLimit`` is the ASGI middleware Nova gets from oslo.middleware's sizelimit: a
body over ``MAX_BODY`` bytes (declared or streamed) is a 413 ``overLimit``. ``parse_json``
turns a body into plain values or raises Nova's ``Malformed request body``: nesting
deeper than ``MAX_DEPTH`` (checked on the raw text, before the recursive parser sees
it) and strings holding lone surrogates (no database or JSON encoder can store them)
are malformed too. ``query`` does the same for query strings (NUL, surrogates).
"""

from __future__ import annotations

import json
from typing import Any

from astara.compute_service.api import errors

MAX_BODY = 114688  # oslo.middleware sizelimit's max_request_body_size default
MAX_DEPTH = 32     # Nova's deepest body (block_device_mapping_v2) is 5 levels deep
TOO_LARGE = "Request is too large."
MALFORMED = "Malformed request body"


def too_deep(raw: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects more than ``limit`` deep."""
    depth, in_string, escaped = 0, False, False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def clean_text(value: str) -> bool:
    """False for a string no store can hold: lone surrogates (NUL is judged per field)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_clean(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not clean_text(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def parse_json(raw: bytes) -> Any:
    """The body's value (None when empty), or ``badRequest`` Malformed request body."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
        if too_deep(text):
            raise ValueError("nested too deep")
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise errors.BadRequest(MALFORMED) from None
    if not _all_clean(value):
        raise errors.BadRequest(MALFORMED)
    return value


def query(pairs) -> dict[str, str]:
    """The query parameters (last value wins), refusing NUL and lone surrogates."""
    out: dict[str, str] = {}
    for key, value in pairs:
        for text in (key, value):
            if "\x00" in text or not clean_text(text):
                raise errors.invalid_query(key if clean_text(key) else "?", "...",
                                           "The query string holds an invalid character.")
        out[key] = value
    return out


class SizeLimit:
    """Pure ASGI middleware: 413 ``overLimit`` for a body over ``limit`` bytes."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app = app
        self.limit = limit

    async def _refuse(self, send) -> None:
        body = json.dumps(errors.OverLimit(TOO_LARGE).body()).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json; charset=UTF-8"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = 0
            if size > self.limit:
                return await self._refuse(send)
        seen = 0
        started = False

        async def guarded_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(TOO_LARGE)
            return message

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)


class BodyTooLarge(errors.OverLimit):
    """A streamed (chunked) body passed the limit while a handler read it; the API
    turns it into its 413 like any other fault."""
