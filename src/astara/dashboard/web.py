"""The request plumbing every page shares: who is logged in, forms and their CSRF
token, rendering, flash messages, and errors turned into plain pages.

``page(handler)`` wraps a handler: no session → the login page (a Keystone session whose
token is gone or refused by an API → the login page, saying so); a ``POST`` without the
session's CSRF token → refused (403) before anything is called; an ``ApiError`` → the
API's words on the page (a form's error is flashed on the page it came from); anything
else → a short apology, logged, never a traceback and never a 5xx.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from astara.dashboard import session
from astara.dashboard.clients import ApiError, Apis
from astara.dashboard.login_guard import LoginGuard
from astara.dashboard.session import Identity
from astara.dashboard.settings import DashboardSettings
from astara.dashboard.token_check import ENDED
from astara.dashboard.tokens import TokenStore

LOG = logging.getLogger(__name__)
MAX_FORM = 64 * 1024
MAX_FIELD = 4096
# Our own scripts and styles only, never framed, forms posted only here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
}


@dataclass
class State:
    """What the app holds: settings, the signing key, the API clients, templates."""

    settings: DashboardSettings
    secret: bytes
    apis: Apis
    templates: jinja2.Environment
    clock: Callable[[], float] = time.time
    admin_password: bytes = b""
    tokens: TokenStore = field(default_factory=lambda: TokenStore(time.time))
    logins: LoginGuard = field(default_factory=lambda: LoginGuard(time.time))

    @property
    def keystone(self) -> bool:
        return self.settings.auth_strategy == "keystone"


@dataclass
class Ctx:
    request: Request
    state: State
    who: Identity
    form: dict[str, list[str]] = field(default_factory=dict)

    @property
    def apis(self) -> Apis:
        return self.state.apis

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0][:MAX_FIELD] if values else default

    def fields(self, name: str) -> list[str]:
        return [v[:MAX_FIELD] for v in self.form.get(name, [])]

    def path(self, name: str) -> str:
        return self.request.path_params[name]

    def render(self, template: str, status: int = 200, **values) -> HTMLResponse:
        return render(self.state, self.request, template, self.who, status, **values)


class FormTooLarge(Exception):
    pass


async def read_form(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body, bounded (plain HTML forms send nothing else)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise FormTooLarge()
    try:
        return parse_qs(body.decode(), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return {}


def environment() -> jinja2.Environment:
    # Lenient undefined: a field an API leaves out renders empty, never a failed page.
    return jinja2.Environment(loader=jinja2.PackageLoader("astara.dashboard", "templates"),
                              autoescape=True, undefined=jinja2.ChainableUndefined)




def session_of(state: State, request: Request) -> tuple[Identity | None, bool]:
    """The session's identity with its Keystone token looked up, and whether a Keystone
    session was there but its token is not (expired, revoked, forgotten)."""
    data = session.unsign(state.secret, request.cookies.get(session.COOKIE))
    who = session.identity_of(data, state.clock())
    if who is None:
        return None, bool(data and data.get("k"))
    if who.token_id is None:  # a noauth session is no session under keystone
        return (None, False) if state.keystone else (who, False)
    if not state.keystone:
        return None, False
    token = state.tokens.get(who.token_id)
    return (None, True) if token is None else (replace(who, auth_token=token), False)


def current(state: State, request: Request) -> Identity | None:
    return session_of(state, request)[0]


def to_login(state: State, message: str) -> RedirectResponse:
    response = redirect(state, "/login", message, "error")
    response.delete_cookie(session.COOKIE, path="/")
    return response


def render(state: State, request: Request, template: str, who: Identity | None,
           status: int = 200, **values) -> HTMLResponse:
    flash = session.unsign(state.secret, request.cookies.get(session.FLASH_COOKIE), "flash")
    html = state.templates.get_template(template).render(
        who=who, csrf=session.csrf_token(state.secret, who) if who else "",
        flash=flash, refresh=state.settings.refresh_seconds, path=request.url.path,
        **values)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if flash:
        response.delete_cookie(session.FLASH_COOKIE, path="/")
    return response


def redirect(state: State, to: str, message: str | None = None,
             kind: str = "ok") -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    if message:
        response.set_cookie(session.FLASH_COOKIE,
                            session.sign(state.secret, {"kind": kind, "text": message},
                                         "flash"),
                            httponly=True, samesite="strict", path="/")
    return response


def safe_back(value: str, default: str) -> str:
    """A place in this site to go back to (never another site's address)."""
    ok = value.startswith("/") and not value.startswith("//") and "\\" not in value
    return value if ok and len(value) < 512 else default


Handler = Callable[[Ctx], Awaitable[Response]]


def page(state: State, handler: Handler, admin: bool = False) -> Callable:
    async def endpoint(request: Request) -> Response:
        who, ended = session_of(state, request)
        if who is None:
            if request.method == "GET" and not request.url.path.endswith(".json"):
                return to_login(state, ENDED) if ended else \
                    RedirectResponse("/login", status_code=303)
            return render(state, request, "error.html", None, 401,
                          message=ENDED if ended else
                          "You are not logged in (or your session has ended).")
        if admin and who.auth_token and state.apis.check is not None:
            try:  # Keystone's roles now, not the cookie's (frozen at login)
                who = replace(who, roles=tuple(
                    r for r in await state.apis.check.roles(who.auth_token)
                    if r in session.KNOWN_ROLES))
            except ApiError as exc:
                return _refused(state, request, who, exc)
        if admin and not who.is_admin:
            return render(state, request, "error.html", who, 403,
                          message="Only a session with the admin role sees this page"
                                  + (" (Keystone no longer gives your login that role)."
                                     if who.auth_token else "."))
        ctx = Ctx(request, state, who)
        back = "/"
        if request.method == "POST":
            try:
                ctx.form = await read_form(request)
            except FormTooLarge:
                return render(state, request, "error.html", who, 413,
                              message="The form sent was too large.")
            if not session.csrf_ok(state.secret, who, ctx.field("csrf")):
                return render(state, request, "error.html", who, 403,
                              message="This form is not from your current session "
                                      "(missing or stale CSRF token): reload the page.")
            back = safe_back(ctx.field("back"), "/")
        try:
            return await handler(ctx)
        except ApiError as exc:
            return _refused(state, request, who, exc, back)
        except Exception:
            LOG.exception("dashboard page %s %s failed", request.method, request.url.path)
            return render(state, request, "error.html", who, 200,
                          message="Something went wrong while building this page; the "
                                  "dashboard's log has the details.")
    return endpoint


def _refused(state: State, request: Request, who: Identity, exc: ApiError,
             back: str | None = None) -> Response:
    # An API no longer takes the token (the orchestrator's 401 is about its own).
    if exc.status == 401 and who.token_id and exc.service not in ("", "rpc"):
        state.tokens.pop(who.token_id)
        return to_login(state, ENDED)
    if request.method == "POST" and back is not None:
        return redirect(state, back, exc.message, "error")
    return render(state, request, "error.html", who,
                  exc.status if 400 <= exc.status < 500 else 200, message=exc.message)
