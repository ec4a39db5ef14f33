"""The dashboard's Starlette app: login/logout, the tenant and admin pages, static files.

``create_app(settings, secret)`` builds it; the session secret and the RPC token are
read by the entry point (``astara.cli.dashboard``) and passed in.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from contextlib import asynccontextmanager
from importlib import resources

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from astara.dashboard import (
    admin,
    keystone_login,
    loadbalancer,
    session,
    tenant,
    tenant_routing,
)
from astara.dashboard.clients import Apis
from astara.dashboard.settings import DashboardSettings
from astara.dashboard.token_check import TokenCheck
from astara.dashboard.web import (
    State,
    current,
    environment,
    page,
    read_form,
    redirect,
    render,
)

LOG = logging.getLogger(__name__)
WILDCARD_BINDS = {"", "0.0.0.0", "::"}
NO_ADMIN = ("Admin login is off: the dashboard has no admin password (its "
            "[dashboard] admin_password_file is missing or empty).")


def trusted_hosts(settings: DashboardSettings) -> list[str]:
    """The Host header values answered: the bind address, this host's loopback names and
    the operator's (a DNS-rebinding page sends its own name, refused)."""
    hosts = ["localhost", "127.0.0.1", "[::1]", *settings.allowed_hosts]
    if settings.bind_host not in WILDCARD_BINDS:
        hosts.append(f"[{settings.bind_host}]" if ":" in settings.bind_host
                     else settings.bind_host)
    return list(dict.fromkeys(h.lower() for h in hosts if h))


def origin_ok(settings: DashboardSettings, request: Request) -> bool:
    """A login comes from this site: the operator's public origin when set (behind a
    proxy), else the request's own (its Host is one the allow-list passed)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    expected = settings.public_origin.rstrip("/") or \
        f"{request.url.scheme}://{request.url.netloc}"
    return origin == expected


def admin_password_ok(expected: bytes, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected)


def _field(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return (form.get(name) or [default])[0][:255]


def _start_session(state: State, who: session.Identity, to: str,
                   expires_at: float | None = None, value: str | None = None) -> Response:
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(session.COOKIE, value or _cookie(state, who, expires_at),
        max_age=state.settings.session_max_age, httponly=True, samesite="strict",
        path="/")
    return response


def _cookie(state: State, who: session.Identity, expires_at: float | None = None) -> str:
    return session.sign(state.secret, session.new_session(
        who, state.clock(), state.settings.session_max_age, expires_at))


async def keystone_login_form(state: State, request: Request,
                              form: dict[str, list[str]]) -> Response:
    """A Keystone login: a project-scoped token kept server-side, the session cookie
    holding its opaque id. The password goes to Keystone only."""
    user, project = _field(form, "user").strip(), _field(form, "project").strip()
    domain = _field(form, "domain").strip() or "Default"
    password = (form.get("password") or [""])[0]
    if not user or not project or not password or len(password) > 4096:
        return render(state, request, "login.html", None, 400, keystone=True,
                      default_domain=domain,
                      error="Give your user name, password and project.")
    if not state.settings.keystone_url:
        return render(state, request, "login.html", None, 503, keystone=True,
                      default_domain=domain,
                      error="The dashboard knows no Keystone URL: set [dashboard] "
                            "keystone_url or [keystone_authtoken] www_authenticate_uri.")
    client = request.client.host if request.client else ""
    keys = [f"user:{domain}/{user}", f"ip:{client}"]
    wait = state.logins.wait_for(keys)
    if wait > 0 or state.logins.busy():
        return render(state, request, "login.html", None, 429, keystone=True,
                      default_domain=domain,
                      error=f"Too many failed logins: try again in {int(wait) + 1} s."
                      if wait > 0 else "The dashboard is busy with other logins: try "
                                       "again in a moment.")
    try:
        async with state.logins.slots:
            got = await run_in_threadpool(keystone_login.authenticate,
                                          state.settings.keystone_url, user, password,
                                          project, domain, state.settings.api_timeout)
    except keystone_login.LoginRefused as exc:
        LOG.info("keystone login refused for user %r project %r: %s", user, project,
                 exc.message)
        if exc.status == 401:  # Keystone said no (not: Keystone is unreachable)
            state.logins.failed(keys)
        return render(state, request, "login.html", None, exc.status, error=exc.message,
                      keystone=True, default_domain=domain)
    state.logins.succeeded(keys[:1])  # the address's failures stay: not one account's
    previous = current(state, request)
    # A re-login (to switch project, say) ends the old session: its token revoked.
    if previous is not None and (old := state.tokens.pop(previous.token_id)):
        await revoke(state, old)
    sid, pushed = state.tokens.put(got.token, got.expires_at, got.user_id)
    for old in pushed:  # this user's oldest login, past the per-user bound
        await revoke(state, old)
    roles = tuple(r for r in got.roles if r in session.KNOWN_ROLES)
    who = session.Identity(got.project_id[:255], got.user_id[:255], roles,
                           secrets.token_urlsafe(16), token_id=sid,
                           project_name=session.shown_name(got.project_name),
                           user_name=session.shown_name(got.user_name))
    value = _cookie(state, who, got.expires_at)
    if len(value) > session.MAX_COOKIE:  # a browser would drop it: a silent login loop
        if token := state.tokens.pop(sid):
            await revoke(state, token)
        return render(state, request, "login.html", None, 400, keystone=True,
                      default_domain=domain,
                      error="This login's ids are too long for the dashboard's session "
                            "cookie: it cannot be used here.")
    return _start_session(state, who, "/admin/hosts" if who.is_admin else "/instances",
                          got.expires_at, value)


async def revoke(state: State, token: str) -> None:
    """Logout under Keystone: the token revoked (a failure is logged, the session ends
    anyway: the dashboard has forgotten the token)."""
    url = keystone_login.identity_v3(state.settings.keystone_url) + "/auth/tokens"
    try:
        r = await state.apis.http.delete(url, headers={"X-Auth-Token": token,
                                                       "X-Subject-Token": token})
        if r.status_code >= 400 and r.status_code != 404:
            LOG.warning("keystone did not revoke a token at logout: HTTP %s", r.status_code)
    except httpx.HTTPError as exc:
        LOG.warning("keystone unreachable at logout (%s); token forgotten, not revoked",
                    type(exc).__name__)


def _login_routes(state: State) -> list[Route]:
    async def login_page(request: Request) -> Response:
        return render(state, request, "login.html", None, keystone=state.keystone,
                      default_domain="Default")

    async def login(request: Request) -> Response:
        if not origin_ok(state.settings, request):
            return render(state, request, "login.html", None, 403,
                          error="A login must come from this page, not another site.")
        try:
            form = await read_form(request)
        except Exception:
            form = {}
        if state.keystone:
            return await keystone_login_form(state, request, form)
        project = (form.get("project") or [""])[0].strip()
        user = (form.get("user") or [""])[0].strip() or "dashboard-user"
        role = (form.get("role") or ["member"])[0]
        if not session.valid_name(project) or not session.valid_name(user) or \
                role not in session.ROLES:
            return render(state, request, "login.html", None, 400,
                          error="Give a project id and a user name of 1 to 255 letters, "
                                "digits or . _ : @ - and a role.")
        if role == "admin" and not state.admin_password:
            return render(state, request, "login.html", None, 403, error=NO_ADMIN)
        if role == "admin" and not admin_password_ok(
                state.admin_password, (form.get("admin_password") or [""])[0]):
            return render(state, request, "login.html", None, 403,
                          error="Wrong admin password.")
        roles = ("admin", "member", "reader") if role == "admin" else ("member", "reader")
        who = session.Identity(project, user, roles, secrets.token_urlsafe(16))
        return _start_session(state, who, "/admin/hosts" if role == "admin" else "/instances")

    async def logout(ctx) -> Response:
        token = state.tokens.pop(ctx.who.token_id)
        if token:
            await revoke(state, token)
        response = redirect(state, "/login")
        response.delete_cookie(session.COOKIE, path="/")
        return response

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)  # none: browsers ask anyway

    async def home(ctx) -> Response:
        return RedirectResponse("/instances", status_code=303)

    # Logging in has no session to tie a CSRF token to: a login posted from another
    # site (which would swap the user's session for the attacker's) is refused by its
    # Origin header, which browsers send with every form POST.
    return [Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", page(state, logout), methods=["POST"]),
            Route("/favicon.ico", favicon, methods=["GET"]),
            Route("/", page(state, home), methods=["GET"])]


def routes(state: State) -> list:
    t, r, a, lb = tenant, tenant_routing, admin, loadbalancer

    def get(path, handler, admin_only=False):
        return Route(path, page(state, handler, admin_only), methods=["GET"])

    def post(path, handler, admin_only=False):
        return Route(path, page(state, handler, admin_only), methods=["POST"])

    static = StaticFiles(directory=str(resources.files("astara.dashboard") / "static"))
    return [
        *_login_routes(state),
        get("/instances", t.instances), post("/instances", t.instance_create),
        get("/instances/{id}", t.instance), get("/instances/{id}/console", t.instance_console),
        post("/instances/{id}/action", t.instance_action),
        post("/instances/{id}/delete", t.instance_delete),
        post("/instances/{id}/metadata", t.instance_metadata),
        get("/networks", t.networks), post("/networks", t.network_create),
        get("/networks/{id}", t.network), post("/networks/{id}/subnets", t.subnet_create),
        post("/networks/{id}/delete", t.network_delete),
        post("/subnets/{id}/delete", t.subnet_delete),
        get("/routers", r.routers), post("/routers", r.router_create),
        get("/routers/{id}", r.router), post("/routers/{id}/interfaces", r.router_interface),
        post("/routers/{id}/gateway", r.router_gateway),
        post("/routers/{id}/routes", r.router_route),
        post("/routers/{id}/delete", r.router_delete),
        get("/floatingips", r.floatingips), post("/floatingips", r.floatingip_create),
        post("/floatingips/{id}/associate", r.floatingip_associate),
        post("/floatingips/{id}/delete", r.floatingip_delete),
        get("/loadbalancers", r.loadbalancers), post("/loadbalancers", r.loadbalancer_create),
        post("/loadbalancers/{id}/delete", r.loadbalancer_delete),
        get("/loadbalancers/{id}", lb.loadbalancer),
        post("/loadbalancers/{id}/listeners", lb.listener_create),
        post("/loadbalancers/{id}/pools", lb.pool_create),
        post("/loadbalancers/{id}/members", lb.member_create),
        post("/loadbalancers/{id}/healthmonitors", lb.healthmonitor_create),
        post("/loadbalancers/{id}/pools/{pid}/members/{mid}/delete", lb.member_delete),
        post("/loadbalancers/{id}/{kind}/{cid}/delete", lb.child_delete),
        get("/topology", r.topology_page), get("/topology.json", r.topology_json),
        get("/status.json", r.status_json),
        get("/admin/hosts", a.hosts, True),
        post("/admin/hosts/{id}/{op}", a.host_drain, True),
        get("/admin/routers", a.routers, True),
        post("/admin/routers/{id}/{command}", a.router_command, True),
        get("/admin/workers", a.workers, True),
        get("/admin/dead-letters", a.dead_letters, True),
        post("/admin/dead-letters/{id}/retry", a.dead_letter_retry, True),
        Mount("/static", static, name="static"),
    ]


def create_app(settings: DashboardSettings, secret: bytes, rpc_token: bytes = b"",
               transport: httpx.AsyncBaseTransport | None = None,
               admin_password: bytes = b"") -> Starlette:
    """``transport``: where API calls go instead of the network (tests, the bench);
    ``admin_password``: what the admin role's login asks for (empty: no admin login)."""
    if not secret:
        raise ValueError("the dashboard needs a non-empty session secret")
    state = State(settings, secret, Apis(settings, rpc_token, transport), environment(),
                  admin_password=admin_password)
    if state.keystone:
        state.apis.check = TokenCheck(state.apis.http,
                                      keystone_login.identity_v3(settings.keystone_url),
                                      lambda: state.clock())

    @asynccontextmanager
    async def lifespan(app):
        yield
        await state.apis.close()

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(state, request, "error.html", None, 404,
                      message="There is no such page.")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return render(state, request, "error.html", None, 405,
                      message="That page does not take this kind of request.")

    app = Starlette(routes=routes(state), lifespan=lifespan,
                    middleware=[Middleware(TrustedHostMiddleware,
                                           allowed_hosts=trusted_hosts(settings),
                                           www_redirect=False)],
                    exception_handlers={404: not_found, 405: not_allowed})
    app.state.dashboard = state
    return app
