"""The shared metrics: request labels by route template, status, registries per app,
the counts collector, and the multiprocess mode the network API's workers use."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.scrape import samples, total, value

from astara.common import metrics
from astara.common.metrics_http import RequestMetrics, endpoint

REQUESTS = "astara_test_http_requests_total"
LATENCY = "astara_test_http_request_duration_seconds_count"


async def ok(request):
    return PlainTextResponse("ok")


async def boom(request):
    raise RuntimeError("boom")


def make_app(refuse=None) -> Starlette:
    regs = metrics.registries()
    http = metrics.HttpMetrics("test", regs.values)
    app = Starlette(routes=[
        Route("/metrics", endpoint(regs.exposed, refuse), methods=["GET"]),
        Route("/v2.0/{plural}", ok, methods=["GET", "POST"]),
        Route("/v2.0/{plural}/{id}", ok, methods=["GET"]),
        Route("/v2.0/{plural}/{id}/{action:str}", ok, methods=["PUT"]),
        Route("/boom", boom),
    ], middleware=[Middleware(RequestMetrics, http=http,
                              known={"plural": frozenset({"routers", "networks"})})])
    app.state.metrics = regs
    return app


def send(app, *calls: tuple, headers: dict | None = None) -> list[httpx.Response]:
    """(method, path) requests in turn through the ASGI app."""
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                     headers=headers) as c:
            return [await c.request(m, p) for m, p in calls]
    return asyncio.run(go())


def scrape(app) -> str:
    return metrics.render(app.state.metrics.exposed).decode()


def test_requests_are_labelled_by_route_template_never_by_the_path_sent():
    app = make_app()
    send(app, ("POST", "/v2.0/routers"), ("GET", "/v2.0/routers/3f1c-tenant-router-id"),
         ("GET", "/v2.0/networks/another-id"),
         ("GET", "/v2.0/secret-tenant-name"),  # not a known plural: the template stays
         ("GET", "/no/such/path"), ("PUT", "/v2.0/routers/r-1/add_router_interface"))
    text = scrape(app)
    assert value(text, REQUESTS, route="/v2.0/routers", method="POST", code="200") == 1
    assert value(text, REQUESTS, route="/v2.0/routers/{id}", method="GET", code="200") == 1
    assert value(text, REQUESTS, route="/v2.0/networks/{id}", method="GET", code="200") == 1
    assert value(text, REQUESTS, route="/v2.0/{plural}", method="GET", code="200") == 1
    assert value(text, REQUESTS, route="unmatched", method="GET", code="404") == 1
    # converters are left out of the template
    assert value(text, REQUESTS, route="/v2.0/routers/{id}/{action}", method="PUT",
                 code="200") == 1
    assert value(text, LATENCY, route="/v2.0/routers", method="POST") == 1
    for sent in ("3f1c-tenant-router-id", "another-id", "secret-tenant-name", "/no/such"):
        assert sent not in text


def test_an_unknown_method_is_other_and_a_raising_handler_is_a_500():
    app = make_app()
    send(app, ("BREW", "/v2.0/routers"), ("BREW", "/v2.0/routers"))
    with pytest.raises(RuntimeError):  # the ASGI transport re-raises what the app raised
        send(app, ("GET", "/boom"))
    text = scrape(app)
    assert value(text, REQUESTS, route="/v2.0/routers", method="other", code="405") == 2
    assert value(text, REQUESTS, route="/boom", method="GET", code="500") == 1
    assert "BREW" not in text


def test_each_app_counts_in_its_own_registry():
    first, second = make_app(), make_app()
    send(first, ("GET", "/v2.0/routers"))
    assert total(scrape(first), REQUESTS) == 1
    assert total(scrape(second), REQUESTS) == 0


def test_metrics_endpoint_answers_through_refuse():
    app = make_app(refuse=lambda request: None if request.headers.get("x-roles") == "admin"
                   else PlainTextResponse("no", 403))
    assert send(app, ("GET", "/metrics"))[0].status_code == 403
    answer = send(app, ("GET", "/metrics"), headers={"X-Roles": "admin"})[0]
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert value(answer.text, REQUESTS, route="/metrics", method="GET", code="403") == 1


def test_counts_collector_reads_plain_counts_at_each_scrape():
    counts = {("boot", "done"): 2}
    regs = metrics.registries()
    regs.exposed.register(metrics.Counts("astara_test_jobs", "Jobs.", ["op", "status"],
                                         lambda: counts))
    text = metrics.render(regs.exposed).decode()
    assert value(text, "astara_test_jobs_total", op="boot", status="done") == 2
    counts[("boot", "failed")] = 1
    text = metrics.render(regs.exposed).decode()
    assert value(text, "astara_test_jobs_total", op="boot", status="failed") == 1


WORKER = """
from astara.common import metrics
regs = metrics.registries()
http = metrics.HttpMetrics("test", regs.values)
for _ in range({n}):
    http.observe("/v2.0/routers", "POST", 201, 0.01)
print(metrics.render(regs.exposed).decode())
"""


def test_multiprocess_mode_sums_every_process(tmp_path):
    """Two processes count in the same directory; a scrape from either shows both."""
    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path)}

    def run(n: int) -> str:
        return subprocess.run([sys.executable, "-c", WORKER.format(n=n)], env=env,
                              capture_output=True, text=True, check=True).stdout

    run(2)
    text = run(3)
    assert value(text, REQUESTS, route="/v2.0/routers", method="POST", code="201") == 5
    assert value(text, LATENCY, route="/v2.0/routers", method="POST") == 5
    assert len(list(tmp_path.iterdir())) >= 2  # one file set per process
    assert samples(text)  # parsed as a whole
