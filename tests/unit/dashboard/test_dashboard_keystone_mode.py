"""The dashboard's Keystone mode without a Keystone: the token store, sessions that
hold only the token's id, what happens when the token is gone, and where the Keystone
URL comes from. (Logins against a real Keystone: tests/integration/keystone.)"""

from __future__ import annotations

import hashlib

from starlette.testclient import TestClient
from tests.dashboard_fake import RPC_TOKEN, SECRET, FakeApis, csrf_of, settings

from astara.dashboard import keystone_login, login_guard, session, tokens
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
    a, _ = store.put("tok-a", expires_at=1010)
    assert store.get(a) == "tok-a" and store.get("nope") is None and store.get(None) is None
    clock.now = 1010
    assert store.get(a) is None and len(store) == 0  # expired: forgotten
    ids = [store.put(f"tok-{n}", 2000, f"u{n}")[0] for n in range(4)]
    assert len(store) == 3 and store.get(ids[0]) is None and store.get(ids[3]) == "tok-3"
    assert store.pop(ids[3]) == "tok-3" and store.get(ids[3]) is None
    assert len(ids[1]) >= 43  # 256 bits, base64url


def test_one_user_past_the_bound_pushes_out_only_its_own_oldest():
    clock = Clock()
    store = TokenStore(clock, max_entries=100, max_per_user=2)
    other, _ = store.put("bob-1", 2000, "bob")
    first, _ = store.put("eve-1", 2000, "eve")
    store.put("eve-2", 2000, "eve")
    _, pushed = store.put("eve-3", 2000, "eve")
    assert pushed == ["eve-1"] and store.get(first) is None
    for n in range(50):
        store.put(f"eve-x{n}", 2000, "eve")
    assert store.get(other) == "bob-1" and len(store) == 3
    short, _ = store.put("t", 1001, "carl")
    clock.now = 1001
    store.put("later", 2000, "dan")  # expired ones go at each put, whatever the size
    assert short not in store._tokens


def test_a_keystone_session_holds_the_token_id_and_ends_with_the_token():
    who = session.Identity("p1", "u1", ("member",), "n", token_id="sid-1",
                           project_name="demo", user_name="alice", auth_token="SECRET-T")
    data = session.new_session(who, now=1000, max_age=3600, expires_at=1500)
    signed = session.sign(SECRET, data)
    assert data["e"] == 1500 and data["k"] == "sid-1"
    assert "SECRET-T" not in str(data) and "SECRET-T" not in str(session.unsign(SECRET, signed))
    assert "SECRET-T" not in repr(who)
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
    sid, _ = state.tokens.put("the-token", state.clock() + 600)
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
    sid, _ = state.tokens.put("stale", state.clock() + 600)
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
    sid, _ = state.tokens.put(token, state.clock() + 3600)
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


class FakeKeystone:
    """``keystone_login.authenticate`` without a Keystone: each good login is a new
    token, registered with the fake identity API (so it validates and can be revoked)."""

    def __init__(self, fake: FakeApis, roles=("member",)):
        self.fake, self.roles, self.n = fake, list(roles), 0

    def __call__(self, url, user, password, project, domain, timeout):
        if password == "down":
            raise keystone_login.LoginRefused("Keystone cannot be reached at x.", 503)
        if password != "right":
            raise keystone_login.LoginRefused("Keystone refused this user name, password, "
                                              "project or domain.")
        self.n += 1
        token = f"tok-{self.n}"
        self.fake.keystone[token] = self.roles
        def uid(name):  # Keystone's ids are 32 hex digits, whatever the name
            return hashlib.md5(name.encode()).hexdigest()

        return keystone_login.Login(token, 10**10, uid(user), user, uid(project), project,
                                    tuple(self.roles))


def keystone_login_client(monkeypatch, roles=("member",)):
    fake = FakeApis()
    ks = FakeKeystone(fake, roles)
    monkeypatch.setattr(keystone_login, "authenticate", ks)
    app, state = keystone_app(fake)
    return TestClient(app, raise_server_exceptions=False), state, fake


def form(password="right", user="alice", project="demo"):
    return {"user": user, "password": password, "project": project, "domain": "Default"}


def test_keystone_login_logout_and_relogin_revoke_the_tokens(monkeypatch):
    c, state, fake = keystone_login_client(monkeypatch)
    r = c.post("/login", data=form(), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/instances"
    cookie = c.cookies.get(session.COOKIE)
    assert "tok-1" not in cookie and "tok-1" not in str(session.unsign(SECRET, cookie))
    assert ">demo<" in c.get("/instances").text
    c.post("/login", data=form(project="other"))  # a re-login: tok-1 revoked
    assert list(fake.keystone) == ["tok-2"] and len(state.tokens) == 1
    c.post("/logout", data={"csrf": csrf_of(c, "/instances")})
    assert fake.keystone == {} and len(state.tokens) == 0
    assert c.get("/instances", follow_redirects=False).headers["location"] == "/login"


def test_keystone_refusals_are_plain_and_failures_back_off(monkeypatch):
    c, state, fake = keystone_login_client(monkeypatch)
    r = c.post("/login", data=form("down"))
    assert r.status_code == 503 and "cannot be reached" in r.text
    for _ in range(login_guard.FREE_FAILURES):
        r = c.post("/login", data=form("wrong"))
        assert r.status_code == 401 and "refused this user name" in r.text
    r = c.post("/login", data=form("right"))  # even the right password waits now
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert not fake.keystone and len(state.tokens) == 0
    # once the wait is over, the right password logs in
    later = state.clock() + login_guard.MAX_WAIT
    state.logins._clock = lambda: later
    assert c.post("/login", data=form("right"), follow_redirects=False).status_code == 303


def test_logins_past_the_concurrency_bound_are_told_busy(monkeypatch):
    import asyncio
    c, state, _ = keystone_login_client(monkeypatch)
    state.logins.slots = asyncio.Semaphore(0)  # every slot held by other logins
    r = c.post("/login", data=form())
    assert r.status_code == 429 and "busy" in r.text


def test_one_user_cannot_log_others_out(monkeypatch):
    c, state, fake = keystone_login_client(monkeypatch)
    c.post("/login", data=form(user="bob"))
    bob = c.cookies.get(session.COOKIE)
    other = TestClient(c.app, raise_server_exceptions=False)
    for _ in range(tokens.MAX_PER_USER + 2):
        other.cookies.clear()
        assert other.post("/login", data=form(user="eve"),
                          follow_redirects=False).status_code == 303
    assert len([t for t in fake.keystone]) == 1 + tokens.MAX_PER_USER  # eve's oldest revoked
    c.cookies.set(session.COOKIE, bob)
    assert c.get("/instances", follow_redirects=False).status_code == 200


def test_long_names_neither_break_the_cookie_nor_leave_a_token(monkeypatch):
    c, state, fake = keystone_login_client(monkeypatch)
    long = "\U0001f600" * 255  # 12 bytes each once JSON-escaped
    r = c.post("/login", data=form(user=long, project=long), follow_redirects=False)
    assert r.status_code == 303
    who = session.identity_of(session.unsign(SECRET, c.cookies.get(session.COOKIE)),
                              state.clock())
    assert who is not None and len(who.user_name) == session.SHOWN_NAME
    assert c.get("/instances", follow_redirects=False).status_code == 200
    monkeypatch.setattr(session, "MAX_COOKIE", 100)  # ids too long for any cookie
    c.cookies.clear()
    r = c.post("/login", data=form(), follow_redirects=False)
    assert r.status_code == 400 and "too long" in r.text
    assert len(state.tokens) == 1 and len(fake.keystone) == 1  # the new one revoked
