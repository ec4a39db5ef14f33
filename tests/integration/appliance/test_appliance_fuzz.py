"""Fuzz the appliance API (hypothesis): a real uvicorn on loopback, the in-tree fake backend
(router and load balancer documents).

At least 10,000 generated requests per run, with and without the appliance's
secret: none may get a 5xx, every error is ``{"error": "..."}`` JSON, a caller
without the secret changes nothing, and the API still answers afterwards. The
seed is printed; ``ASTARA_FUZZ_SEED=<seed>`` repeats a run exactly.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from hypothesis import given, seed
from hypothesis import strategies as st
from tests import fuzz_requests as fz
from tests.support import Server, free_port

from astara.appliance.api import MAX_BODY, SCOPE_KEY, Served, make_app
from astara.appliance.apply.fakes import FakeDnsmasq, FakeHaproxy, FakeNetlink, FakeNft
from astara.appliance.converge import Appliance, Ports
from astara.appliance.observe.state import Link
from astara.wire import auth, examples

REQUESTS = 10_000
BATCH = 25
SECRET = auth.appliance_secret(b"fuzz-deployment-key", "fuzz-appliance")
ROUTES = [("GET", "/v1/status/"), ("GET", "/v1/firewall/rules/"),
          ("GET", "/v1/system/interfaces/"), ("GET", "/v1/system/interface/{}/"),
          ("GET", "/v1/system/stats/"), ("GET", "/v1/system/config/"),
          ("PUT", "/v1/system/config/")]
LINKS = [Link(1, "lo", "00:00:00:00:00:00", 65536, True),
         Link(2, "ge0", examples.MGMT_MAC, 1500, True),
         Link(3, "ge1", examples.EXT_MAC, 1500, False),
         Link(4, "ge2", examples.INT1_MAC, 1500, False),
         Link(5, "ge3", examples.INT2_MAC, 1500, False)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ports = Ports(netlink=FakeNetlink(LINKS), nft=FakeNft(), dnsmasq=FakeDnsmasq(),
                  sysctl=lambda k, v: None, haproxy=FakeHaproxy())
    appliance = Appliance("fuzz-appliance", None, tmp_path_factory.mktemp("fuzz"), 5000, ports)
    one = Served(appliance, SECRET)
    app = make_app()

    async def one_appliance(scope, receive, send):
        await app({**scope, SCOPE_KEY: one}, receive, send)

    server = Server(one_appliance, free_port()).start()
    yield server, one
    server.stop()


def credentials():
    """Half the requests carry the secret; the others nothing, garbage or a neighbour's."""
    other = auth.bearer(auth.appliance_secret(b"fuzz-deployment-key", "another-appliance"))
    garbage = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80)
    return st.sampled_from(["right"] * 4 + ["none", "garbage", "other", "truncated"]
                           ).flatmap(lambda kind: {
                               "right": st.just({auth.HEADER: auth.bearer(SECRET)}),
                               "none": st.just({}),
                               "garbage": garbage.map(lambda t: {auth.HEADER: t}),
                               "other": st.just({auth.HEADER: other}),
                               "truncated": st.just({auth.HEADER: auth.bearer(SECRET[:-1])}),
                           }[kind])


def check(res: httpx.Response, req: fz.Request) -> None:
    where = f"{req.method} {req.path[:80]} -> {res.status_code} {res.text[:200]!r}"
    assert res.status_code < 500, where
    if res.status_code >= 400 and req.method != "HEAD":
        assert res.headers["content-type"] == "application/json", where
        body = res.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), where
    if not req.headers.get(auth.HEADER, "").endswith(SECRET):
        assert res.status_code == 401, where


def test_appliance_api_fuzz(served, request):
    server, one = served
    run_seed = fz.run_seed()
    report = request.config.pluginmanager.get_plugin("terminalreporter")
    report.write_line(f"appliance API fuzz: seed {run_seed} (ASTARA_FUZZ_SEED={run_seed})")
    documents = st.one_of(fz.mutated(examples.router_document()),
                          fz.mutated(examples.loadbalancer_document()),
                          st.just(examples.router_document(3)),
                          st.just(examples.loadbalancer_document()))
    strategy = st.lists(fz.requests(ROUTES, credentials(), fz.bodies(MAX_BODY, documents)),
                        min_size=BATCH, max_size=BATCH)
    sent = {"n": 0, "unauthenticated": 0}
    started = time.monotonic()
    client = httpx.Client(base_url=server.url, timeout=30)
    applies_without_secret: list[int] = []

    @seed(run_seed)
    @fz.fuzz_settings(REQUESTS // BATCH + 4)
    @given(strategy)
    def fuzz(batch):
        for req in batch:
            before = one.appliance.applies
            res = client.request(req.method, req.path, headers=req.headers, content=req.body)
            sent["n"] += 1
            check(res, req)
            if res.status_code == 401:
                sent["unauthenticated"] += 1
                if one.appliance.applies != before:
                    applies_without_secret.append(before)

    try:
        fuzz()
    finally:
        client.close()
        report.write_line(f"appliance API fuzz: {sent['n']} requests "
                          f"({sent['unauthenticated']} refused as unauthenticated) in "
                          f"{time.monotonic() - started:.1f} s, seed {run_seed}")
    assert sent["n"] >= REQUESTS
    assert applies_without_secret == []
    status = httpx.get(f"{server.url}/v1/status/", headers={auth.HEADER: auth.bearer(SECRET)})
    assert status.status_code == 200 and "config_digest" in status.json()
    good = httpx.put(f"{server.url}/v1/system/config/", content=json.dumps(
        examples.router_document(2)), headers={auth.HEADER: auth.bearer(SECRET)})
    assert good.status_code == 200, good.text
