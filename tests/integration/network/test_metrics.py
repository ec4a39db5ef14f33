"""The network API's /metrics, scraped over HTTP: an admin reads it, a router created
moves its route's counters, and no project or resource id shows in any label."""

from __future__ import annotations

import httpx

from tests.integration.network.helpers import name
from tests.scrape import value

REQUESTS = "astara_network_http_requests_total"
LATENCY = "astara_network_http_request_duration_seconds_count"


def scrape(server, who) -> str:
    answer = httpx.get(f"{server.url}/metrics", headers=who.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def test_a_router_created_moves_its_routes_counters(network_api, demo, admin):
    before = scrape(network_api, admin)
    router = demo.sdk.network.create_router(name=name("metrics"))
    demo.sdk.network.get_router(router.id)
    after = scrape(network_api, admin)
    created = {"route": "/v2.0/routers", "method": "POST", "code": "201"}
    assert value(after, REQUESTS, **created) - value(before, REQUESTS, **created) == 1
    assert value(after, LATENCY, route="/v2.0/routers", method="POST") - \
        value(before, LATENCY, route="/v2.0/routers", method="POST") == 1
    shown = {"route": "/v2.0/routers/{id}", "method": "GET", "code": "200"}
    assert value(after, REQUESTS, **shown) - value(before, REQUESTS, **shown) == 1
    assert demo.project not in after and router.id not in after


def test_an_unknown_path_is_unmatched_not_the_path(network_api, demo, admin):
    with demo.http() as c:
        assert c.get("/no-such-collection-xyz").status_code == 404
    text = scrape(network_api, admin)
    assert "no-such-collection-xyz" not in text
    assert value(text, REQUESTS, route="/v2.0/{plural}", method="GET", code="404") >= 1


def test_only_an_admin_reads_the_metrics(network_api, demo):
    member = httpx.get(f"{network_api.url}/metrics", headers=demo.headers)
    assert member.status_code == 403 and "NeutronError" in member.json()
    nobody = httpx.get(f"{network_api.url}/metrics")
    assert nobody.status_code == 401 and "NeutronError" in nobody.json()
