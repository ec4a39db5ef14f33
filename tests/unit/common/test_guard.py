"""The control-plane guard lets nothing but lifespan past it unauthenticated."""

from __future__ import annotations

import asyncio

from astara.common.guard import Guard


def _guard(reached: list):
    async def app(scope, receive, send):
        reached.append(scope["type"])
    return Guard(app, allowed=lambda scope, headers: False,
                 error=lambda status, msg: {"error": msg}, max_body=1024, scheme="Bearer")


def _run(guard, scope) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)
    asyncio.run(guard(scope, receive, send))
    return sent


def test_a_websocket_never_reaches_the_app():
    reached: list = []
    sent = _run(_guard(reached), {"type": "websocket", "path": "/v1/system/config/",
                                  "headers": []})
    assert reached == []
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_lifespan_reaches_the_app():
    reached: list = []
    _run(_guard(reached), {"type": "lifespan"})
    assert reached == ["lifespan"]
