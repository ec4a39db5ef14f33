"""Member-to-member RPC calls: signed with the shared token, never carrying it; a
forged, stale or replayed signature is a 401; a cluster-wide list accepts a peer's
rows only when that peer answered as itself."""

from __future__ import annotations

import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from test_cluster_dispatch import IDS, db, parent  # noqa: F401  (the db fixture)
from test_orchestrator_loadbalancer_ctl import _InProcess
from tests.support import Server, free_port

from astara.orchestrator import peer_auth
from astara.orchestrator.rpc import FORWARDED_HEADER, PeerAuth, build_app

TOKEN = b"t0ken"


def _orch(db, group):  # noqa: F811
    a = parent(db, "orch-a", {"orch-a": {}, **group})
    a.ownership.tick(IDS)
    a.router_views = lambda: [{"id": IDS[0], "kind": "router"}]  # type: ignore[method-assign]
    return a


def _signed(at: float, target: str = "/routers/", sender: str = "orch-b", token=TOKEN,
            to: str = "orch-a"):
    return peer_auth.headers(token, "GET", target, b"", at, sender, FORWARDED_HEADER, to)


def test_a_member_signature_is_accepted_once_and_a_forged_or_stale_one_is_401(db):  # noqa: F811
    a = _orch(db, {})
    with httpx.Client(transport=_InProcess(build_app(a, TOKEN)), base_url="http://rpc") as h:
        good = _signed(time.time())
        r = h.get("/routers/", headers=good)
        assert r.status_code == 200 and r.headers["X-Astara-Member"] == "orch-a"
        assert h.get("/routers/", headers=good).status_code == 401  # replayed
        # The same call again in the same second, signed anew: a new nonce, accepted.
        again = _signed(int(good[peer_auth.TIME_HEADER]))
        assert h.get("/routers/", headers=again).status_code == 200
        assert h.get("/routers/", headers={**again, peer_auth.NONCE_HEADER: "x"}
                     ).status_code == 401
        assert h.get("/routers/", headers=_signed(time.time(), token=b"guess")).status_code \
            == 401
        old = h.get("/routers/", headers=_signed(time.time() - 120))
        assert old.status_code == 401 and "too old" in old.json()["error"]["message"]
        other = h.get("/routers/?kind=router", headers=_signed(time.time()))  # not signed
        assert other.status_code == 401
        assert h.get("/routers/", headers={**_signed(time.time()),
                                           FORWARDED_HEADER: "orch-c"}).status_code == 401
        # Signed for another member (replayed from it): refused, named or not.
        for_c = _signed(time.time(), to="orch-c")
        r = h.get("/routers/", headers=for_c)
        assert r.status_code == 401 and "signed for member 'orch-c'" in \
            r.json()["error"]["message"]
        assert h.get("/routers/", headers={**for_c, peer_auth.TO_HEADER: "orch-a"}
                     ).status_code == 401


def test_a_cluster_wide_list_sends_no_token_and_takes_rows_only_from_the_member_named(
        db):  # noqa: F811
    seen: list[dict] = []

    def listing(name):
        async def routers(request):
            seen.append(dict(request.headers))
            return JSONResponse({"routers": [{"id": IDS[1], "kind": "router"}]},
                                headers={"X-Astara-Member": name})
        return Starlette(routes=[Route("/routers/", routers)])

    pb, pc = free_port(), free_port()
    sb, sc = Server(listing("orch-b"), pb).start(), Server(listing("orch-a"), pc).start()
    try:
        a = _orch(db, {"orch-b": {"rpc_url": sb.url}, "orch-c": {"rpc_url": sc.url},
                       "orch-d": {}, "orch-e": {"rpc_url": "http://orch-a:44250"}})
        with httpx.Client(transport=_InProcess(build_app(a, TOKEN)), base_url="http://rpc",
                          headers={"X-Auth-Token": TOKEN.decode()}) as h:
            wide = h.get("/routers/?cluster=1").json()
    finally:
        sb.stop()
        sc.stop()
    assert sorted((r["id"], r["member"]) for r in wide["routers"]) == [
        (IDS[0], "orch-a"), (IDS[1], "orch-b")]
    why = wide["unanswered_why"]
    assert wide["unanswered"] == ["orch-c", "orch-d", "orch-e"]
    assert "answered by 'orch-a'" in why["orch-c"]
    assert why["orch-d"] == "advertises no RPC URL"
    assert why["orch-e"].startswith("unreachable: advertises the same URL")
    assert len(seen) == 2 and all("x-auth-token" not in s for s in seen)
    assert all(s["x-astara-forwarded"] == "orch-a" for s in seen)
    assert sorted(s["x-astara-peer-to"] for s in seen) == ["orch-b", "orch-c"]


def _member(clock, name: str = "orch-a") -> httpx.Client:
    """Member ``name``'s peer check in front of an app that answers 200, started now."""
    async def ok(request):
        return JSONResponse({"ok": True})
    app = PeerAuth(Starlette(routes=[Route("/routers/", ok)]), TOKEN, name, clock=clock)
    return httpx.Client(transport=_InProcess(app), base_url="http://rpc")


def test_a_call_captured_before_a_restart_is_refused_by_the_restarted_member():
    now = [1_000_000.4]
    clock = lambda: now[0]  # noqa: E731
    captured = _signed(now[0])
    with _member(clock) as first:
        assert first.get("/routers/", headers=captured).status_code == 200
    now[0] += 3  # the member restarts: what it had seen is gone with the process
    with _member(clock) as restarted:
        r = restarted.get("/routers/", headers=captured)
        assert r.status_code == 401
        assert "signed before this member started" in r.json()["error"]["message"]
        # A call signed now, and one signed later in the same second it started in.
        assert restarted.get("/routers/", headers=_signed(now[0])).status_code == 200
        assert restarted.get("/routers/", headers=_signed(int(now[0]))).status_code == 200
        now[0] += 20  # the captured call is still inside the 30 s window: refused all along
        assert restarted.get("/routers/", headers=captured).status_code == 401


@pytest.mark.parametrize("at, why", [(None, "not signed"), ("1e9", "bad time"),
                                     ("-5", "bad time")])
def test_verify_refuses_a_missing_or_malformed_time(at, why):
    assert peer_auth.verify(TOKEN, "GET", "/", b"", at, "x", "orch-b", time.time()) == why


def test_the_signed_target_ignores_query_order_and_encoding():
    assert peer_auth.target("/routers/", "kind=router&a=1") == \
        peer_auth.target("/routers/", "a=1&kind=%72outer")
