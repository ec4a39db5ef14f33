"""Bounds on what a request may carry before the handlers see it.

Sits between uvicorn and the Starlette routes of the network API. Neutron runs
behind oslo.middleware's ``sizelimit`` (413 over ``max_request_body_size``,
114,688 bytes); ``BodyLimit`` does the same without ever buffering more than the
limit, and reads (and drops) what is left of a refused or unread body before it
answers, so the client reads the answer instead of a reset connection.
``parse_json`` parses a body with the limits a real parser should have: nesting
depth, no lone surrogates or NUL characters, no NaN/Infinity; a body that is not a
JSON object is refused as Neutron does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from astara.network_service import errors

MAX_REQUEST_BODY_SIZE = 114_688  # oslo.middleware's default max_request_body_size
MAX_DEPTH = 32  # far deeper than any Neutron body (a router's routes are depth 4)
DRAIN_MAX = 16 * 1024 * 1024  # read at most this much of a body we will not use
DRAIN_IDLE = 2.0  # seconds without a byte after which a body is no longer waited for
# uvicorn's h11 refuses (and resets) requests whose headers exceed this; Neutron's
# eventlet reads header lines of up to 16 KiB, we read up to 1 MiB of headers.
H11_MAX_INCOMPLETE_EVENT_SIZE = 1024 * 1024


class BodyTooLarge(errors.NeutronError):
    status = 413
    message = "Request is too large."

    def __init__(self) -> None:
        super().__init__(type_="HTTPRequestEntityTooLarge")


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 has refused it already
    return None


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``limit``; what is left of a body the app did
    not read is read and dropped after the answer is out, before the response ends."""

    def __init__(self, app, limit: int = MAX_REQUEST_BODY_SIZE):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"read": 0, "done": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                state["done"] = not message.get("more_body", False)
                if state["read"] > self.limit:
                    raise BodyTooLarge()
            else:
                state["done"] = True
            return message

        async def draining_send(message):
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if not last or state["done"]:
                await send(message)
                return
            # The answer goes out first (its length is known), then the unread body is
            # dropped, so the connection closes cleanly instead of with a reset.
            await send({**message, "more_body": True})
            await _drain(receive, state)
            await send({"type": "http.response.body", "body": b""})

        length = declared_length(scope.get("headers", []))
        if length is not None and length > self.limit:
            await _answer(_too_large(), draining_send)
            return
        await self.app(scope, limited_receive, draining_send)


async def _drain(receive, state: dict) -> None:
    drained = 0
    while not state["done"] and drained < DRAIN_MAX:
        try:
            message = await asyncio.wait_for(receive(), DRAIN_IDLE)
        except TimeoutError:
            break  # the client sends no more: stop waiting for it
        if message["type"] != "http.request":
            break
        drained += len(message.get("body", b""))
        state["done"] = not message.get("more_body", False)
    state["done"] = True


def _too_large() -> tuple[int, bytes]:
    return BodyTooLarge.status, json.dumps(BodyTooLarge().body()).encode()


async def _answer(response: tuple[int, bytes], send) -> None:
    status, body = response
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON value")


def parse_json(raw: bytes) -> Any:
    """A request body as a JSON object, or Neutron's ``HTTPBadRequest`` "Body contains
    invalid data" (not JSON, not an object, or past the bounds above)."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise _invalid("nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(data, dict):
        raise _invalid()
    problem = check_tree(data)
    if problem:
        raise _invalid(problem)
    return data


def _invalid(reason: str | None = None) -> errors.HTTPBadRequest:
    # Neutron's own words; the bounds it does not have say which one was passed.
    return errors.bad_attr("Body contains invalid data" + (f": {reason}" if reason else ""))


def check_tree(data: Any) -> str | None:
    """What makes a parsed body unusable (too deep, a bad string), or None. Iterative,
    so a deep body cannot exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = _bad_string(item)
            if problem:
                return problem
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


def _bad_string(value: str) -> str | None:
    if "\x00" in value:
        return "strings may not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "strings may not contain lone surrogates"
    return None
