"""An appliance's metrics: pushes by result and dnsmasq/haproxy actions, on its /metrics."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.scrape import value

from astara.appliance.api import SCOPE_KEY, Served, make_app
from astara.appliance.converge import Result
from astara.appliance.metrics import apply_result, daemon_actions
from astara.wire import auth
from astara.wire.examples import router_document

SECRET = auth.appliance_secret(b"deployment-key", "r1")
ACTIONS = "astara_appliance_daemon_actions_total"
APPLIES = "astara_appliance_config_applies_total"


@pytest.mark.parametrize("result, want", [
    (Result(changed=True), "changed"),
    (Result(changed=False), "unchanged"),
    (Result(changed=False, error="no eth9", rejected=True), "rejected"),
    (Result(changed=True, error="nft refused"), "failed"),
])
def test_apply_result(result, want):
    assert apply_result(result) == want


@pytest.mark.parametrize("dhcp, haproxy, want", [
    ([], "none", []),
    (["start ge2", "reload ge3", "stop ge4"], "none",
     [("dnsmasq", "start"), ("dnsmasq", "reload"), ("dnsmasq", "stop")]),
    ([], "start", [("haproxy", "start")]),
    (["start ge2"], "reload", [("dnsmasq", "start"), ("haproxy", "reload")]),
])
def test_daemon_actions(dhcp, haproxy, want):
    assert daemon_actions(Result(changed=True, dhcp=dhcp, haproxy=haproxy)) == want


def calls(served: Served, *requests, headers: dict | None = None) -> list[httpx.Response]:
    app = make_app()

    async def one_appliance(scope, receive, send):
        await app({**scope, SCOPE_KEY: served}, receive, send)

    async def go():
        transport = httpx.ASGITransport(app=one_appliance)
        async with httpx.AsyncClient(transport=transport, base_url="http://appliance",
                                     headers={auth.HEADER: auth.bearer(SECRET)}
                                     if headers is None else headers) as c:
            return [await c.request(m, p, **kw) for m, p, kw in requests]

    return asyncio.run(go())


def test_a_push_that_starts_dnsmasq_shows_on_the_appliances_metrics(appliance):
    served = Served(appliance, SECRET)
    doc = router_document(1)
    first, again, scraped = calls(served, ("PUT", "/v1/system/config/", {"json": doc}),
                                  ("PUT", "/v1/system/config/", {"json": doc}),
                                  ("GET", "/metrics", {}))
    assert first.status_code == 200 and again.json()["changed"] is False
    started = len([d for d in first.json()["dhcp"] if d.startswith("start")])
    assert started >= 1
    assert scraped.status_code == 200
    text = scraped.text
    assert value(text, ACTIONS, daemon="dnsmasq", action="start") == started
    assert value(text, ACTIONS, daemon="haproxy", action="start") == 0
    assert value(text, APPLIES, result="changed") == 1
    assert value(text, APPLIES, result="unchanged") == 1


def test_metrics_want_the_appliances_secret_and_each_appliance_counts_alone(appliance):
    served, other = Served(appliance, SECRET), Served(appliance, SECRET)
    calls(served, ("PUT", "/v1/system/config/", {"json": router_document(1)}))
    refused = calls(served, ("GET", "/metrics", {}), headers={})[0]
    assert refused.status_code == 401
    text = calls(other, ("GET", "/metrics", {}))[0].text
    assert value(text, APPLIES, result="changed") == 0
    assert value(text, ACTIONS, daemon="dnsmasq", action="start") == 0
