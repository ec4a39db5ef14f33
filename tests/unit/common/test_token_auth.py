"""keystonemiddleware's auth_token in front of our ASGI apps (``common.token_auth``):
which headers survive, and what a request without a token or with Keystone down gets,
with the real auth_token (Keystone itself: tests/integration/keystone)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from tests.support import free_port

from astara.common import token_auth
from astara.common.settings import AuthSettings, defaults
from astara.compute_service.api.context import Context
from astara.network_service.api import auth_fault
from astara.network_service.context import RequestContext


def test_forged_identity_headers_are_dropped_and_the_tokens_kept():
    sent = [(b"x-project-id", b"victim"), (b"X-Roles", b"admin"), (b"x-tenant-id", b"victim"),
            (b"x-user-id", b"me"), (b"x-service-roles", b"service"),
            (b"x-auth-token", b"tok"), (b"content-type", b"application/json"),
            (b"openstack-api-version", b"compute 2.1")]
    environ = {"HTTP_X_PROJECT_ID": "mine", "HTTP_X_ROLES": "member,reader",
               "HTTP_X_USER_ID": "u1", "HTTP_X_IDENTITY_STATUS": "Confirmed",
               "HTTP_X_AUTH_TOKEN": "tok", "wsgi.input": None}
    got = token_auth.validated_headers(sent, environ)
    assert dict(got) == {b"x-project-id": b"mine", b"x-roles": b"member,reader",
                         b"x-user-id": b"u1", b"x-identity-status": b"Confirmed",
                         b"x-auth-token": b"tok", b"content-type": b"application/json",
                         b"openstack-api-version": b"compute 2.1"}


def test_environ_carries_the_headers_auth_token_reads():
    scope = {"method": "GET", "path": "/v2.0/networks", "query_string": b"a=1",
             "headers": [(b"x-auth-token", b"tok"), (b"content-type", b"text/plain")]}
    environ = token_auth.environ_of(scope)
    assert environ["HTTP_X_AUTH_TOKEN"] == "tok"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["QUERY_STRING"] == "a=1" and environ["REQUEST_METHOD"] == "GET"


@pytest.mark.parametrize("roles, read_only", [
    (("reader",), True), (("member", "reader"), False), (("admin", "member", "reader"), False),
    ((), False), (("service",), False)])
def test_reader_alone_is_read_only(roles, read_only):
    assert RequestContext(project_id="p", roles=roles).read_only is read_only
    assert Context(project_id="p", roles=roles).read_only is read_only


def _behind_auth_token(tmp_path, keystone_port: int, extra: str = ""):
    conf = tmp_path / "astara.conf"
    conf.write_text(f"""[DEFAULT]
auth_strategy = keystone
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:{keystone_port}/v3
auth_url = http://127.0.0.1:{keystone_port}/v3
auth_type = password
username = astara
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
http_request_max_retries = 0
""" + extra)
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request):
        return JSONResponse({"project": request.headers.get("x-project-id")})

    app = Starlette(routes=[Route("/", echo), Route("/v2.0/networks", echo)])
    token_auth.protect(app, AuthSettings("keystone", (str(conf),)), auth_fault)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _get(client, path, headers=None):
    async with client:
        return await client.get(path, headers=headers or {})


def test_no_token_is_401_in_neutrons_format(tmp_path):
    client = _behind_auth_token(tmp_path, free_port())
    r = asyncio.run(_get(client, "/v2.0/networks", {"X-Project-Id": "victim",
                                                    "X-Roles": "admin"}))
    assert r.status_code == 401
    assert r.json()["NeutronError"]["type"] == "HTTPUnauthorized"
    assert "Keystone uri=" in r.headers["www-authenticate"]


def test_keystone_down_is_503_said_in_one_log_line(tmp_path, caplog):
    client = _behind_auth_token(tmp_path, free_port())  # nothing listens there
    with caplog.at_level(logging.ERROR, logger="astara.common.token_auth"):
        r = asyncio.run(_get(client, "/v2.0/networks", {"X-Auth-Token": "some-token"}))
    assert r.status_code == 503
    assert r.json()["NeutronError"]["type"] == "HTTPServiceUnavailable"
    ours = [rec for rec in caplog.records if rec.name == "astara.common.token_auth"]
    assert len(ours) == 1 and "Keystone unreachable" in ours[0].getMessage()


def test_a_hung_keystone_is_503_after_the_timeout_said_in_one_log_line(tmp_path, caplog):
    import socket

    with socket.socket() as hung:  # accepts connections (the backlog), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        client = _behind_auth_token(tmp_path, hung.getsockname()[1],
                                    "http_connect_timeout = 1\n")
        with caplog.at_level(logging.ERROR, logger="astara.common.token_auth"):
            r = asyncio.run(_get(client, "/v2.0/networks", {"X-Auth-Token": "some-token"}))
    assert r.status_code == 503
    assert r.json()["NeutronError"]["type"] == "HTTPServiceUnavailable"
    ours = [rec for rec in caplog.records if rec.name == "astara.common.token_auth"]
    assert len(ours) == 1 and "Keystone unreachable" in ours[0].getMessage()


def test_the_version_document_needs_no_token(tmp_path):
    client = _behind_auth_token(tmp_path, free_port())
    assert asyncio.run(_get(client, "/")).status_code == 200


def test_noauth_leaves_the_app_as_it_is():
    from starlette.applications import Starlette

    app = Starlette()
    token_auth.protect(app, defaults().auth, auth_fault)
    assert app.user_middleware == []
    assert defaults().auth.strategy == "noauth"


def test_a_callers_token_goes_on_with_the_calls_made_for_them():
    from astara.common.network_api import identity_headers

    with_token = Context(project_id="p", user_id="u", roles=("member",), auth_token="tok")
    assert identity_headers(with_token)["X-Auth-Token"] == "tok"
    assert "X-Auth-Token" not in identity_headers(Context(project_id="p"))
    assert Context.from_headers({"x-project-id": "p", "x-auth-token": "tok"}).auth_token == "tok"


class FakeAuthProtocol:
    """auth_token as TokenAuth drives it: calls ``hook`` (in its worker thread), then
    raises ``error``, or sets ``headers`` (a validated token's) and passes the environ on."""

    headers: dict[str, str] = {}
    error: Exception | None = None
    hook = None

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        if self.hook is not None:
            type(self).hook()
        if self.error is not None:
            raise self.error
        environ.update(self.headers)
        return self.app(environ, start_response)


def _behind_fake_auth_token(monkeypatch, headers=None, error=None, hook=None):
    from keystonemiddleware import auth_token
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    fake = type("Fake", (FakeAuthProtocol,), {"headers": headers or {}, "error": error,
                                        "hook": hook})
    monkeypatch.setattr(auth_token, "AuthProtocol", fake)

    async def echo(request):
        ctx = RequestContext.from_headers(request.headers)
        return JSONResponse({k: v for k, v in request.headers.items() if k.startswith("x-")}
                            | {"ctx_project_name": ctx and ctx.project_name})

    app = Starlette(routes=[Route("/v2.0/networks", echo)])
    token_auth.protect(app, AuthSettings("keystone", ()), auth_fault)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_a_project_named_in_cyrillic_reaches_the_app_as_utf8(monkeypatch):
    client = _behind_fake_auth_token(monkeypatch, {
        "HTTP_X_PROJECT_ID": "p1", "HTTP_X_PROJECT_NAME": "Проект",
        "HTTP_X_USER_NAME": "\udc80bad", "HTTP_X_ROLES": "member"})
    r = asyncio.run(_get(client, "/v2.0/networks", {"X-Auth-Token": "tok"}))
    assert r.status_code == 200
    assert r.json()["ctx_project_name"] == "Проект"
    assert r.json()["x-project-id"] == "p1"


def test_an_error_in_validation_is_a_503_in_the_apis_format_not_a_500(monkeypatch):
    client = _behind_fake_auth_token(monkeypatch, error=RuntimeError("boom"))
    r = asyncio.run(_get(client, "/v2.0/networks", {"X-Auth-Token": "tok"}))
    assert r.status_code == 503
    assert r.json()["NeutronError"]["type"] == "HTTPServiceUnavailable"


def test_validation_runs_on_its_own_threads_not_the_pool_the_database_uses(monkeypatch):
    import anyio.from_thread
    import anyio.to_thread

    seen: dict[str, int] = {}

    def note_the_pools():
        seen["shared"] = anyio.from_thread.run_sync(
            lambda: anyio.to_thread.current_default_thread_limiter().borrowed_tokens)

    client = _behind_fake_auth_token(monkeypatch, error=RuntimeError("stop here"),
                                     hook=note_the_pools)
    r = asyncio.run(_get(client, "/v2.0/networks", {"X-Auth-Token": "tok"}))
    assert r.status_code == 503
    assert seen == {"shared": 0}  # the validation's thread is not one of the shared pool's
    assert token_auth.VALIDATION_THREADS == 8


def test_identity_headers_auth_token_does_not_set_never_reach_the_app(monkeypatch):
    client = _behind_fake_auth_token(monkeypatch, {"HTTP_X_PROJECT_ID": "p1",
                                                   "HTTP_X_ROLES": "member"})
    r = asyncio.run(_get(client, "/v2.0/networks", {
        "X-Auth-Token": "tok", "X-Service-Token": "stok", "X-Trust-Id": "t1",
        "X-Default-Project-Id": "victim", "X-Domain-Id": "d1", "X-Domain-Name": "Default",
        "X-Project-Id": "victim", "X-App-Cred-Id": "a1"}))
    assert r.status_code == 200
    seen = {k: v for k, v in r.json().items() if k != "ctx_project_name"}
    assert seen == {"x-auth-token": "tok", "x-service-token": "stok",
                    "x-project-id": "p1", "x-roles": "member"}


def test_environ_keeps_the_tokens_and_drops_other_identity_headers():
    scope = {"method": "GET", "path": "/", "headers": [
        (b"x-auth-token", b"tok"), (b"x-service-token", b"stok"), (b"x-trust-id", b"t"),
        (b"x-default-project-id", b"v"), (b"x-domain-id", b"d")]}
    environ = token_auth.environ_of(scope)
    assert {k for k in environ if k.startswith("HTTP_")} == {"HTTP_X_AUTH_TOKEN",
                                                             "HTTP_X_SERVICE_TOKEN"}
