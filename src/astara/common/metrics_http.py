"""The ASGI side of the metrics: time every request, and answer ``GET /metrics``.

``RequestMetrics`` wraps a whole app (outside its routing, so refusals and 404s count
too) and labels each request by the template of the route Starlette matched (the
``route`` it leaves in the scope), never by the path a caller sent. ``endpoint``
renders a registry; ``refuse`` lets each API turn away whom it must, in its own error
format (the public APIs answer an admin only: the counts span every project).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from astara.common.metrics import CONTENT_TYPE, UNMATCHED, HttpMetrics, render

Scope = dict[str, Any]


class RequestMetrics:
    """``known``: path parameters whose value is put in the label when it is one of the
    given (a resource's plural in ``/v2.0/{plural}``): a bounded set, never free text."""

    def __init__(self, app, http: HttpMetrics,
                 known: Mapping[str, Collection[str]] | None = None) -> None:
        self.app, self.http, self.known = app, http, dict(known or {})

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raised before answering

        async def noting(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            self.http.observe(self.label(scope), scope["method"], status,
                              time.perf_counter() - started)

    def label(self, scope: Scope) -> str:
        route = scope.get("route")
        # The template without its converters: "/{version}/lbaas/{plural}".
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if path is None:
            return UNMATCHED
        if self.known:
            params = scope.get("path_params") or {}
            for name, allowed in self.known.items():
                value = params.get(name)
                if value in allowed:
                    path = path.replace("{" + name + "}", value)
        return path


def endpoint(registry: CollectorRegistry | Callable[[Request], CollectorRegistry],
             refuse: Callable[[Request], Response | None] | None = None):
    """A Starlette endpoint rendering ``registry`` (or the one ``registry(request)``
    picks); ``refuse(request)``: the answer for a caller who may not read it, else None."""

    async def metrics(request: Request) -> Response:
        if refuse is not None and (answer := refuse(request)) is not None:
            return answer
        reg = registry(request) if callable(registry) else registry
        # Collectors may query the database: off the event loop.
        body = await run_in_threadpool(render, reg)
        return Response(body, media_type=CONTENT_TYPE)

    return metrics
