"""Fuzz the orchestrator's RPC API (hypothesis) on a real ``astara-orchestrator``.

At least 10,000 generated requests per run, with and without the operator's
token: none may get a 5xx, every error is ``{"error": {"code", "message"}}``
JSON with the status as its code, a caller without the token changes nothing,
and the orchestrator still answers (no worker lost) afterwards. The seed is
printed; ``ASTARA_FUZZ_SEED=<seed>`` repeats a run exactly.
"""

from __future__ import annotations

import time

import httpx
import pytest
from hypothesis import given, seed
from hypothesis import strategies as st
from tests import fuzz_requests as fz
from tests.integration.conftest import make_settings
from tests.integration.orchestrator.conftest import running_orchestrator
from tests.support import Server, free_port

from astara.network_service.app import create_app, uvicorn_options
from astara.orchestrator.rpc import MAX_BODY

REQUESTS = 10_000
BATCH = 25
ROUTES = [("PUT", "/poll/"), ("PUT", "/workers/debug/"), ("PUT", "/router/{}/{}"),
          ("PUT", "/router/rebuild/{}"), ("PUT", "/router/debug/{}"),
          ("PUT", "/router/manage/{}"), ("PUT", "/tenant/{}/{}"), ("PUT", "/tenant/debug/{}"),
          ("PUT", "/tenant/manage/{}"), ("PUT", "/global/{}/"), ("PUT", "/global/debug/"),
          ("PUT", "/global/manage/"), ("GET", "/routers/"), ("GET", "/routers/{}"),
          ("GET", "/workers/"), ("GET", "/debug/"), ("PUT", "/loadbalancer/{}/{}"),
          ("GET", "/loadbalancers/"), ("GET", "/loadbalancers/{}"), ("GET", "/routers/?kind={}")]


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory):
    """An orchestrator on its own network API and database: the session's hold every
    router the earlier suites made, and each fuzzed poll had the orchestrator look at
    all of them again (this run took 250 s in CI instead of about 60)."""
    settings = make_settings(tmp_path_factory.mktemp("rpc-fuzz-state"), free_port())
    app = create_app(settings)
    server = Server(app, settings.network.bind_port, **uvicorn_options()).start()
    try:
        with running_orchestrator(server, settings,
                                  tmp_path_factory.mktemp("rpc-fuzz-orch")) as orch:
            yield orch
    finally:
        server.stop()
        app.state.service.db.dispose()


def credentials(token: str):
    """Half the requests carry the token; the others nothing, garbage or a near miss."""
    garbage = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80)
    return st.sampled_from(["right"] * 4 + ["none", "garbage", "truncated", "bearer"]
                           ).flatmap(lambda kind: {
                               "right": st.just({"X-Auth-Token": token}),
                               "none": st.just({}),
                               "garbage": garbage.map(lambda t: {"X-Auth-Token": t}),
                               "truncated": st.just({"X-Auth-Token": token[:-1]}),
                               "bearer": st.just({"Authorization": f"Bearer {token}"}),
                           }[kind])


def reasons() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"reason": fz.json_values | fz.nasty_texts})


def check(res: httpx.Response, req: fz.Request, token: str) -> None:
    where = f"{req.method} {req.path[:80]} -> {res.status_code} {res.text[:200]!r}"
    assert res.status_code < 500, where
    if res.status_code >= 400 and req.method != "HEAD":
        assert res.headers["content-type"] == "application/json", where
        error = res.json()["error"]
        assert error["code"] == res.status_code and isinstance(error["message"], str), where
    if req.headers.get("X-Auth-Token") != token:
        assert res.status_code == 401, where


def test_rpc_api_fuzz(orchestrator, request):
    run_seed = fz.run_seed()
    report = request.config.pluginmanager.get_plugin("terminalreporter")
    report.write_line(f"RPC API fuzz: seed {run_seed} (ASTARA_FUZZ_SEED={run_seed})")
    workers_before = {w["index"]: w["pid"] for w in orchestrator.get("/workers/").json()[
        "workers"]}
    body = fz.bodies(MAX_BODY, reasons())
    strategy = st.lists(fz.requests(ROUTES, credentials(orchestrator.token), body),
                        min_size=BATCH, max_size=BATCH)
    sent = {"n": 0, "unauthenticated": 0}
    started = time.monotonic()
    client = httpx.Client(base_url=orchestrator.url, timeout=60)

    @seed(run_seed)
    @fz.fuzz_settings(REQUESTS // BATCH + 4)
    @given(strategy)
    def fuzz(batch):
        for req in batch:
            res = client.request(req.method, req.path, headers=req.headers, content=req.body)
            sent["n"] += 1
            sent["unauthenticated"] += res.status_code == 401
            check(res, req, orchestrator.token)

    try:
        fuzz()
    finally:
        client.close()
        report.write_line(f"RPC API fuzz: {sent['n']} requests ({sent['unauthenticated']} "
                          f"refused as unauthenticated) in {time.monotonic() - started:.1f} s"
                          f", seed {run_seed}")
    assert sent["n"] >= REQUESTS
    workers = orchestrator.get("/workers/").json()["workers"]
    assert {w["index"]: w["pid"] for w in workers} == workers_before
    assert all(w["alive"] for w in workers)
    assert orchestrator.get("/debug/").status_code == 200
