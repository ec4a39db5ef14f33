"""Member-to-member RPC calls: signed with the shared token, never carrying it; a
forged, stale or replayed signature is a 401; a cluster-wide list accepts a peer's
rows only when that peer answered as itself."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import replace

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


def _member(clock, name: str = "orch-a", earlier: bool = False) -> httpx.Client:
    """Member ``name``'s peer check in front of an app that answers 200, started now."""
    async def ok(request):
        return JSONResponse({"ok": True})
    app = PeerAuth(Starlette(routes=[Route("/routers/", ok)]), TOKEN, name, clock=clock,
                   earlier=earlier)
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


def _why(response: httpx.Response) -> str:
    assert response.status_code == 401
    return response.json()["error"]["message"]


@pytest.mark.parametrize("transition", [False, True])
def test_a_call_replayed_with_its_time_zero_padded_is_refused(transition):
    # "0" + t signs the same number as t: were it accepted, it would be a new call.
    now = [time.time()]
    with _member(lambda: now[0], earlier=transition) as a:
        calls = [_new_signed(now[0], both=False), _new_signed(now[0], both=True)]
        if transition:
            calls.append(_old_signed(now[0]))  # the unbound form: once per member too
        for call in calls:
            assert a.get("/routers/", headers=call).status_code == 200
            for pad in ("0", "00"):
                padded = {**call, peer_auth.TIME_HEADER: pad + call[peer_auth.TIME_HEADER]}
                assert _why(a.get("/routers/", headers=padded)) == \
                    "authentication required: bad time"


def test_a_call_is_remembered_by_the_time_signed_however_it_is_spelled():
    assert peer_auth.replay_key("0001000", "n", "orch-b", "s") == \
        peer_auth.replay_key("1000", "n", "orch-b", "s")


def test_the_signed_target_ignores_query_order_and_encoding():
    assert peer_auth.target("/routers/", "kind=router&a=1") == \
        peer_auth.target("/routers/", "a=1&kind=%72outer")


# A rolling upgrade: members of the earlier version sign without the receiver
# ("astara-peer-v1") and check only that form in X-Astara-Peer-Signature. Spelled out
# here as they did it, not through the code under test.
def _v1(at: int, nonce: str, sender: str = "orch-b", target: str = "/routers/") -> str:
    text = "\n".join(("astara-peer-v1", "GET", target, hashlib.sha256(b"").hexdigest(),
                      str(at), nonce, sender))
    return hmac.new(TOKEN, text.encode(), hashlib.sha256).hexdigest()


def _old_signed(at: float, sender: str = "orch-b") -> dict[str, str]:
    when, nonce = int(at), "ab" * 16
    return {peer_auth.TIME_HEADER: str(when), peer_auth.NONCE_HEADER: nonce,
            FORWARDED_HEADER: sender, peer_auth.SIGNATURE_HEADER: _v1(when, nonce, sender)}


def _old_member_accepts(headers: dict[str, str], now: float) -> bool:
    at = headers[peer_auth.TIME_HEADER]
    return abs(int(at) - now) <= 30 and hmac.compare_digest(
        headers[peer_auth.SIGNATURE_HEADER],
        _v1(int(at), headers[peer_auth.NONCE_HEADER], headers[FORWARDED_HEADER]))


def _new_signed(at: float, both: bool, to: str = "orch-a") -> dict[str, str]:
    return peer_auth.headers(TOKEN, "GET", "/routers/", b"", at, "orch-b",
                             FORWARDED_HEADER, to, both=both)


def _bare(headers: dict[str, str]) -> dict[str, str]:
    """A call stripped of what the earlier form does not sign."""
    return {k: v for k, v in headers.items()
            if k not in (peer_auth.SIGNATURE_V2_HEADER, peer_auth.TO_HEADER)}


@pytest.mark.parametrize("transition", [False, True])
def test_a_new_member_accepts_the_earlier_form_only_during_the_transition(transition):
    now = [time.time()]
    with _member(lambda: now[0], earlier=transition) as a:
        old = a.get("/routers/", headers=_old_signed(now[0]))
        if transition:
            assert old.status_code == 200
            again = a.get("/routers/", headers=_old_signed(now[0]))
            assert "already used" in _why(again)
        else:
            assert "peer_signature_transition" in _why(old)
        for both in (False, True):  # a new member's, whatever its own setting
            call = _new_signed(now[0], both)
            assert a.get("/routers/", headers=call).status_code == 200
            assert "already used" in _why(a.get("/routers/", headers=call))  # replayed
            # Stripped to the earlier form: what refuses it differs by case.
            shown = _why(a.get("/routers/", headers=_bare(call)))
            if not transition:  # the earlier form is refused outright
                assert "signed the earlier way" in shown
            elif both:  # its earlier signature holds: the same call (nonce, time)
                assert "already used" in shown
            else:  # its one signature is the bound form's, the receiver now unsigned
                assert "bad signature" in shown
        # A call made for orch-c, stripped down to the earlier form: only the transition
        # lets it through (the earlier form binds no receiver: the documented cost).
        for_c = _bare(_new_signed(now[0], True, to="orch-c"))
        assert a.get("/routers/", headers=for_c).status_code == (200 if transition else 401)
        # Bound to orch-c and shown as such: refused either way.
        bound = _new_signed(now[0], True, to="orch-c")
        assert a.get("/routers/", headers=bound).status_code == 401


def test_an_earlier_member_accepts_a_new_member_s_call_only_during_the_transition():
    now = time.time()
    assert _old_member_accepts(_new_signed(now, both=True), now)
    assert not _old_member_accepts(_new_signed(now, both=False), now)


def test_the_transition_is_logged_at_start_and_signs_fan_out_calls_both_ways(
        db, caplog):  # noqa: F811
    seen: list[dict] = []

    async def routers(request):
        seen.append(dict(request.headers))
        return JSONResponse({"routers": []}, headers={"X-Astara-Member": "orch-b"})

    sb = Server(Starlette(routes=[Route("/routers/", routers)]), free_port()).start()
    try:
        a = _orch(db, {"orch-b": {"rpc_url": sb.url}})
        a.coordination = replace(a.coordination, peer_signature_transition=True)
        with caplog.at_level(logging.WARNING, logger="astara.orchestrator.rpc"):
            app = build_app(a, TOKEN)
        assert "peer_signature_transition is on" in caplog.text
        with httpx.Client(transport=_InProcess(app), base_url="http://rpc",
                          headers={"X-Auth-Token": TOKEN.decode()}) as h:
            assert h.get("/routers/?cluster=1").json()["unanswered"] == []
    finally:
        sb.stop()
    (call,) = seen
    call = {k.title(): v for k, v in call.items()}
    assert _old_member_accepts(call, time.time())
    assert peer_auth.SIGNATURE_V2_HEADER in call and "X-Auth-Token" not in call
