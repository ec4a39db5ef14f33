"""The appliance client's probe: does the management address still answer at all?

(How a status call fails is told apart in tests/integration/orchestrator/
test_appliance_status_call.py, against real sockets.)
"""

from __future__ import annotations

import httpx
import pytest

from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.clients.base import ConfigRefused, RemoteError


def client(handler) -> HttpApplianceAPI:
    api = HttpApplianceAPI(b"k" * 32, port=5000, timeout=1.0)
    api._http.close()
    api._http = httpx.Client(transport=httpx.MockTransport(handler), timeout=1.0)
    return api


def raises(exc_type):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)
    return handler


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


@pytest.mark.parametrize("handler, error", [
    (lambda request: httpx.Response(400, json={"error": "invalid config"}), ConfigRefused),
    (lambda request: httpx.Response(500, text="apply failed, rolled back"), ConfigRefused),
    (raises(httpx.ConnectError), RemoteError),  # not a refusal: nobody answered
    (lambda request: httpx.Response(401, text="no"), RemoteError),  # our key, not the config
])
def test_a_push_answered_with_a_refusal_is_told_from_a_failure_to_reach(handler, error):
    from astara.wire import examples
    from astara.wire.appliance_config import ApplianceConfig

    api = client(handler)
    try:
        with pytest.raises(RemoteError) as got:
            api.push("192.0.2.5", "server-1",
                     ApplianceConfig.model_validate(examples.loadbalancer_document()))
    finally:
        api.close()
    assert (type(got.value) is ConfigRefused) is (error is ConfigRefused)
