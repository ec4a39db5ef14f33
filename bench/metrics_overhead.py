"""What the request metrics cost per request: the ASGI middleware alone.

Calls a trivial Starlette app directly (no sockets, no server) N times with and
without ``RequestMetrics`` in front and prints the microseconds per request each
way and their difference; with ``--multiprocess`` the instruments write to
prometheus_client's files (the network API's worker mode). Asserts nothing.
Usage: bench/metrics_overhead.py [--requests N] [--multiprocess]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(with_metrics: bool):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import Response
    from starlette.routing import Route

    from astara.common import metrics
    from astara.common.metrics_http import RequestMetrics

    async def ok(request):
        return Response(b"{}", media_type="application/json")

    middleware = []
    if with_metrics:
        regs = metrics.registries()
        middleware = [Middleware(RequestMetrics, http=metrics.HttpMetrics("bench", regs.values),
                                 known={"plural": frozenset({"ports", "routers"})})]
    return Starlette(routes=[Route("/v2.0/{plural}", ok, methods=["GET", "POST"])],
                     middleware=middleware)


async def drive(app, n: int) -> float:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v2.0/ports", "raw_path": b"",
             "query_string": b"", "root_path": "", "headers": [],
             "server": ("127.0.0.1", 9696), "client": ("127.0.0.1", 1)}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    for _ in range(200):  # warm up: children created, code paths taken
        await app(dict(scope), receive, send)
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--multiprocess", action="store_true")
    args = ap.parse_args()
    if args.multiprocess:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="astara-bench-")
    without = asyncio.run(drive(build(False), args.requests))
    with_ = asyncio.run(drive(build(True), args.requests))
    mode = "multiprocess files" if args.multiprocess else "one process"
    print(f"request metrics ({mode}), {args.requests} requests through a trivial app:")
    print(f"  without: {without:7.1f} us/request")
    print(f"  with:    {with_:7.1f} us/request")
    print(f"  cost:    {with_ - without:7.1f} us/request")


if __name__ == "__main__":
    main()
