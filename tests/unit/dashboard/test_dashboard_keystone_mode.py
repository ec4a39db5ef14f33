"""The dashboard's Keystone mode without a Keystone: the token store, sessions that
hold only the token's id, what happens when the token is gone, and where the Keystone
URL comes from. (Logins against a real Keystone: tests/integration/keystone.)"""

from __future__ import annotations

from starlette.testclient import TestClient
from tests.dashboard_fake import RPC_TOKEN, SECRET, FakeApis, csrf_of, settings

from astara.dashboard import session
from astara.dashboard import settings as settings_mod
from astara.dashboard.app import create_app
from astara.dashboard.tokens import TokenStore
from astara.dashboard.web import ENDED


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_store_expires_bounds_and_forgets():
    clock = Clock()
    store = TokenStore(clock, max_entries=3)
    a = store.put("tok-a", expires_at=1010)
    assert store.get(a) == "tok-a" and store.get("nope") is None and store.get(None) is None
    clock.now = 1010
    assert store.get(a) is None and len(store) == 0  # expired: forgotten
    ids = [store.put(f"tok-{n}", 2000) for n in range(4)]
    assert len(store) == 3 and store.get(ids[0]) is None and store.get(ids[3]) == "tok-3"
    assert store.pop(ids[3]) == "tok-3" and store.get(ids[3]) is None
    assert len(ids[1]) >= 43  # 256 bits, base64url


def test_a_keystone_session_holds_the_token_id_and_ends_with_the_token():
    who = session.Identity("p1", "u1", ("member",), "n", token_id="sid-1",
                           project_name="demo", user_name="alice")
    data = session.new_session(who, now=1000, max_age=3600, expires_at=1500)
    assert data["e"] == 1500 and data["k"] == "sid-1" and "auth_token" not in str(data)
    back = session.identity_of(session.unsign(SECRET, session.sign(SECRET, data)), 1200)
    assert (back.token_id, back.project_name, back.user_name) == ("sid-1", "demo", "alice")
    assert back.auth_token is None
    assert session.Identity("p", "u", (), "n", auth_token="T").headers() == \
        {"X-Auth-Token": "T"}
    assert session.identity_of({**data, "k": 5}, 1200) is None


def keystone_app(fake: FakeApis):
    app = create_app(settings(auth_strategy="keystone", keystone_url="http://ks.fake/v3"),
                     SECRET, RPC_TOKEN, transport=fake.transport())
    return app, app.state.dashboard


def cookie_for(state, who: session.Identity) -> str:
    return session.sign(SECRET, session.new_session(who, state.clock(), 3600))


def test_keystone_mode_sends_the_token_and_sends_users_back_when_it_is_gone():
    fake = FakeApis()
    app, state = keystone_app(fake)
    c = TestClient(app, raise_server_exceptions=False)
    assert 'name="password"' in c.get("/login").text and 'name="role"' not in \
        c.get("/login").text
    sid = state.tokens.put("the-token", state.clock() + 600)
    c.cookies.set(session.COOKIE, cookie_for(state, session.Identity(
        "p1", "u1", ("member", "reader"), "n", token_id=sid, project_name="demo",
        user_name="alice")))
    page = c.get("/instances").text
    assert "alice" in page and ">demo<" in page
    assert fake.headers and all(h["x-auth-token"] == "the-token" and "x-project-id" not in h
                                for h in fake.headers)
    state.tokens.pop(sid)
    r = c.get("/instances", follow_redirects=False)
    assert r.headers["location"] == "/login"
    assert ENDED in c.get("/login").text


def test_an_api_refusing_the_token_ends_the_session():
    fake = FakeApis()
    fake.fail["/v2.1/servers/detail"] = (401, {"error": {"message": "token expired"}})
    app, state = keystone_app(fake)
    c = TestClient(app, raise_server_exceptions=False)
    sid = state.tokens.put("stale", state.clock() + 600)
    c.cookies.set(session.COOKIE, cookie_for(state, session.Identity(
        "p1", "u1", ("member",), "n", token_id=sid)))
    r = c.get("/instances", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert len(state.tokens) == 0


def test_a_noauth_session_is_no_session_under_keystone():
    app, state = keystone_app(FakeApis())
    c = TestClient(app, raise_server_exceptions=False)
    c.cookies.set(session.COOKIE, cookie_for(state, session.Identity(
        "p1", "u1", ("admin",), "n")))
    assert c.get("/admin/hosts", follow_redirects=False).headers["location"] == "/login"
    assert c.post("/login", data={"project": "p1", "role": "admin"}).status_code == 400


def test_the_keystone_url_comes_from_keystone_authtoken(tmp_path):
    conf = tmp_path / "astara.conf"
    conf.write_text("[DEFAULT]\nauth_strategy = keystone\n[keystone_authtoken]\n"
                    "www_authenticate_uri = http://ks.example:5000/v3\n"
                    "auth_url = http://internal:5000\n")
    _, _, dash = settings_mod.load(["--config-file", str(conf)], prog="astara-dashboard")
    assert (dash.auth_strategy, dash.keystone_url) == ("keystone",
                                                       "http://ks.example:5000/v3")
    conf.write_text("[dashboard]\nauth_strategy = keystone\nkeystone_url = http://k/v3\n")
    _, _, dash = settings_mod.load(["--config-file", str(conf)], prog="astara-dashboard")
    assert (dash.auth_strategy, dash.keystone_url) == ("keystone", "http://k/v3")
    _, _, dash = settings_mod.load([], prog="astara-dashboard")
    assert dash.auth_strategy == "noauth"


def admin_client(fake: FakeApis, token: str = "adm-token"):
    app, state = keystone_app(fake)
    fake.keystone[token] = ["admin", "member"]
    c = TestClient(app, raise_server_exceptions=False)
    sid = state.tokens.put(token, state.clock() + 3600)
    c.cookies.set(session.COOKIE, cookie_for(state, session.Identity(
        "p1", "u1", ("admin", "member"), "n", token_id=sid)))
    return c, state


def test_admin_pages_ask_keystone_for_the_roles_not_the_cookie():
    fake = FakeApis()
    fake.orch["r1"] = {"id": "r1", "tenant_id": "p1", "state": "up"}
    c, state = admin_client(fake)
    assert c.get("/admin/routers").status_code == 200
    checks = [x for x in fake.calls if x[1] == "ks"]
    assert checks == [("GET", "ks", "/v3/auth/tokens", "")]
    c.get("/admin/routers")  # within VALID_FOR: the answer is reused
    assert len([x for x in fake.calls if x[1] == "ks"]) == 1
    fake.keystone["adm-token"] = ["member"]  # the admin role removed at Keystone
    later = state.clock() + 60
    state.clock = lambda: later  # past the cached answer, before the session's end
    csrf = csrf_of(c, "/instances")
    before = len(fake.calls)
    r = c.post("/admin/routers/r1/rebuild", data={"csrf": csrf})
    assert r.status_code == 403 and "no longer gives" in r.text
    assert [x[1] for x in fake.calls[before:]] == ["ks"] and not fake.commands


def test_an_orchestrator_call_with_a_revoked_token_ends_the_session():
    fake = FakeApis()
    c, state = admin_client(fake)
    del fake.keystone["adm-token"]  # revoked at Keystone
    r = c.get("/admin/workers", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert len(state.tokens) == 0 and not [x for x in fake.calls if x[1] == "rpc"]


def test_the_rpc_client_itself_asks_keystone_before_the_operator_token_goes_out():
    import asyncio

    from astara.dashboard.clients import ApiError
    fake = FakeApis()
    _, state = admin_client(fake)
    who = session.Identity("p1", "u1", ("admin",), "n", token_id="x", auth_token="gone")
    try:
        asyncio.run(state.apis.get("rpc", "/workers/", who))
    except ApiError as exc:
        assert (exc.status, exc.service) == (401, "identity")
    else:
        raise AssertionError("an unchecked token reached the orchestrator")
    assert not [x for x in fake.calls if x[1] == "rpc"]
