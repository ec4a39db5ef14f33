"""The appliance client says how a status call failed: unreachable, timeout or an error."""

from __future__ import annotations

import httpx
import pytest

from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.reconcile.model import Failure


def client(handler) -> HttpApplianceAPI:
    api = HttpApplianceAPI(b"k" * 32, port=5000, timeout=1.0)
    api._http.close()
    api._http = httpx.Client(transport=httpx.MockTransport(handler), timeout=1.0)
    return api


def raises(exc_type):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)
    return handler


@pytest.mark.parametrize("handler, failure, code", [
    (raises(httpx.ConnectError), Failure.UNREACHABLE, None),
    (raises(httpx.ConnectTimeout), Failure.UNREACHABLE, None),
    (raises(httpx.ReadTimeout), Failure.TIMEOUT, None),
    (lambda request: httpx.Response(503, text="busy"), Failure.ERROR, 503),
])
def test_status_failures_are_told_apart(handler, failure, code):
    api = client(handler)
    try:
        app = api.status("fdca::5", "server-1")
    finally:
        api.close()
    assert (app.reachable, app.failure, app.http_status) == (False, failure, code)


@pytest.mark.parametrize("handler, answers", [
    (lambda request: httpx.Response(200, json={"interfaces": []}), True),
    (lambda request: httpx.Response(500, text="oops"), True),  # the agent is there
    (raises(httpx.ReadTimeout), True),  # it took the connection
    (raises(httpx.ConnectError), False),
    (raises(httpx.ConnectTimeout), False),
])
def test_probe_asks_the_interfaces_endpoint(handler, answers):
    paths: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return handler(request)

    api = client(record)
    try:
        assert api.probe("192.0.2.5", "server-1") is answers
    finally:
        api.close()
    assert paths == ["/v1/system/interfaces/"]
