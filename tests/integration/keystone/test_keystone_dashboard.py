"""The dashboard under ``auth_strategy = keystone`` against a real Keystone and our APIs
behind it: a wrong password is a plain refusal (and never logged); a member logs in
with a project-scoped token kept server-side (not in the cookie), sees its roles, is
refused the admin pages, and what it creates reaches the network API as the token's
project; an admin sees the hosts; a token the APIs refuse, or one the dashboard lost,
sends the user to the login page saying why; logout revokes the token at Keystone."""

from __future__ import annotations

import base64
import logging
import re
import uuid

import httpx
import pytest
from starlette.testclient import TestClient

from astara.dashboard import session
from astara.dashboard.app import create_app
from astara.dashboard.settings import DashboardSettings
from astara.dashboard.web import ENDED

pytestmark = pytest.mark.integration


def dashboard(cloud) -> TestClient:
    """Used as a context manager: one event loop for every request (the app's httpx
    client keeps its connections to the APIs between them)."""
    settings = DashboardSettings(
        network_url=cloud.network_url, compute_url=cloud.compute_url.removesuffix("/v2.1"),
        loadbalancer_url="http://127.0.0.1:1/", rpc_url="http://127.0.0.1:1/",
        allowed_hosts=("testserver",), auth_strategy="keystone",
        keystone_url=cloud.env["KEYSTONE_URL"])
    app = create_app(settings, b"s" * 32, b"rpc-token")
    return TestClient(app, raise_server_exceptions=False)


def log_in(c: TestClient, user: str, password: str, project: str):
    return c.post("/login", data={"user": user, "password": password, "project": project,
                                  "domain": "Default"}, follow_redirects=False)


def csrf(c: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(path).text).group(1)


def stored_token(c: TestClient) -> str:
    [(token, _, _)] = c.app.state.dashboard.tokens._tokens.values()
    return token


def test_wrong_password_is_refused_plainly_and_never_logged(keystone_cloud, caplog):
    with dashboard(keystone_cloud) as c:
        assert 'name="password"' in c.get("/login").text
        wrong = f"not-the-password-{uuid.uuid4().hex}"
        with caplog.at_level(logging.DEBUG):
            r = log_in(c, "demo-member", wrong, "demo")
        assert r.status_code == 401
        assert "Keystone refused this user name, password, project or domain." in r.text
        assert session.COOKIE not in r.headers.get("set-cookie", "")
        assert wrong not in caplog.text and wrong not in r.text
        assert not c.app.state.dashboard.tokens._tokens


def test_member_logs_in_and_acts_with_its_token(keystone_cloud, caplog):
    cloud = keystone_cloud
    with dashboard(cloud) as c:
        password = cloud.env["KEYSTONE_PASSWORD_DEMO_MEMBER"]
        with caplog.at_level(logging.DEBUG):
            r = log_in(c, "demo-member", password, "demo")
        assert r.status_code == 303 and r.headers["location"] == "/instances"
        assert password not in caplog.text
        token = stored_token(c)
        cookie = c.cookies[session.COOKIE]
        payload = base64.urlsafe_b64decode(cookie.split(".")[0] + "==").decode()
        assert token not in cookie and token not in payload and password not in payload

        page = c.get("/instances").text
        assert "demo-member" in page and re.search(r'id="roles">[^<]*member', page)
        assert "/admin/hosts" not in page
        assert c.get("/admin/hosts").status_code == 403
        assert c.get("/admin/dead-letters").status_code == 403

        name = f"dash-ks-{uuid.uuid4().hex[:8]}"
        r = c.post("/networks", data={"csrf": csrf(c, "/networks"), "name": name})
        assert f"Network {name} created." in r.text
        shown = httpx.get(f"{cloud.network_url}/v2.0/networks", params={"name": name},
                          headers={"X-Auth-Token": token}).json()["networks"]
        assert [n["project_id"] for n in shown] == [cloud.env["KEYSTONE_DEMO_PROJECT_ID"]]

        # The APIs refuse the token (here: one Keystone never issued): back to the login.
        tokens = c.app.state.dashboard.tokens
        [sid] = tokens._tokens
        tokens._tokens[sid] = ("not-a-token", *tokens._tokens[sid][1:])
        r = c.get("/networks", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert ENDED in c.get("/login").text
        assert not tokens._tokens


def test_a_forgotten_token_asks_for_a_new_login(keystone_cloud):
    with dashboard(keystone_cloud) as c:
        log_in(c, "demo-member", keystone_cloud.env["KEYSTONE_PASSWORD_DEMO_MEMBER"], "demo")
        c.app.state.dashboard.tokens._tokens.clear()  # as after a restart, or once expired
        r = c.get("/instances")
        assert r.url.path == "/login" and ENDED in r.text


def test_admin_sees_admin_pages_and_logout_revokes(keystone_cloud):
    cloud = keystone_cloud
    cloud.register_host()
    with dashboard(cloud) as c:
        r = log_in(c, "admin", cloud.env["KEYSTONE_PASSWORD_ADMIN"], "admin")
        assert r.headers["location"] == "/admin/hosts"
        token = stored_token(c)
        page = c.get("/admin/hosts").text
        assert "astara-keystone-host" in page and re.search(r'id="roles">[^<]*admin', page)
        assert "No dead letters." in c.get("/admin/dead-letters").text

        c.post("/logout", data={"csrf": csrf(c, "/instances")})
        assert not c.app.state.dashboard.tokens._tokens
        check = httpx.get(f"{cloud.env['KEYSTONE_URL']}/auth/tokens",
                          headers={"X-Auth-Token": token, "X-Subject-Token": token})
        assert check.status_code in (401, 404)  # revoked: Keystone no longer knows it
        assert c.get("/instances", follow_redirects=False).headers["location"] == "/login"

        # Revoked at Keystone behind the dashboard's back: the admin pages ask Keystone
        # (once the 30 s answer is no longer trusted) and end the session.
        log_in(c, "admin", cloud.env["KEYSTONE_PASSWORD_ADMIN"], "admin")
        token = stored_token(c)
        assert c.get("/admin/workers", follow_redirects=False).status_code == 200
        httpx.delete(f"{cloud.env['KEYSTONE_URL']}/auth/tokens",
                     headers={"X-Auth-Token": token, "X-Subject-Token": token})
        c.app.state.dashboard.apis.check._seen.clear()
        r = c.get("/admin/workers", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
