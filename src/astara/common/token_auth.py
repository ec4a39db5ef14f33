"""``[DEFAULT] auth_strategy = keystone``: keystonemiddleware's ``auth_token`` in front of
an ASGI app (the network, compute and load-balancer APIs).

``auth_token`` is WSGI middleware. ``TokenAuth`` hands it, per request, a WSGI environ
holding only the request's headers (it reads no body) in a worker thread; what it
passes on carries the identity it validated from the token (``X-Project-Id``,
``X-Roles``, ``X-User-Id``...: the headers our request contexts read, the one seam
both strategies share). Every identity header the client sent is dropped first, so a
tenant cannot name another project; a request ``auth_token`` refuses (no, bad or
expired token: 401; Keystone refused or timed out, or any other error in
validation: 503, never a 500) is answered in the API's own error format by ``fault``.
Validation runs on threads of its own (``VALIDATION_THREADS``), not the shared pool
the database work uses, so a hung Keystone cannot take that pool. ``auth_token``
caches validated tokens (in this process unless ``[keystone_authtoken]
memcached_servers`` is set) and is configured from the ``[keystone_authtoken]``
section of the service's own config files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import anyio.to_thread
from anyio import CapacityLimiter
from keystoneauth1 import exceptions as ks_exceptions
from oslo_config import cfg
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from astara.common.settings import AuthSettings

LOG = logging.getLogger(__name__)

# Headers that say who the caller is: only auth_token may set them.
IDENTITY_PREFIXES = ("x-project", "x-tenant", "x-user", "x-role", "x-domain", "x-identity",
                     "x-service", "x-is-admin", "x-default-project", "x-system",
                     "openstack-system-scope", "x-trust", "x-app-cred")


# The version document is public, as the real services serve it (clients discover
# the API there before they authenticate).
PUBLIC_PATHS = frozenset({"/"})

# Threads validating tokens at once, per process: their own, not the shared pool the
# database work runs on, so a slow Keystone holds at most these (and queues requests)
# while requests already let through keep their threads.
VALIDATION_THREADS = 8


def protect(app: Starlette, auth: AuthSettings,
            fault: Callable[[int, str], Response]) -> Starlette:
    """``app`` behind auth_token when ``auth_strategy = keystone``; as it is otherwise."""
    if auth.strategy == "keystone":
        app.add_middleware(TokenAuth, config_files=auth.config_files, fault=fault)
    return app


def is_identity(name: str) -> bool:
    return name.lower().startswith(IDENTITY_PREFIXES)


# The identity-prefixed headers a client may send: the tokens auth_token validates.
CLIENT_TOKENS = frozenset({"x-auth-token", "x-service-token"})


def environ_of(scope: Scope) -> dict:
    """The WSGI environ auth_token needs: method, path and the request's headers less
    the identity headers the client sent (its tokens aside), so that every identity
    header auth_token passes on is one it set (it neither sets nor removes many:
    ``X-Trust-Id``, ``X-Domain-*``...)."""
    environ = {"REQUEST_METHOD": scope["method"], "PATH_INFO": scope["path"],
               "SCRIPT_NAME": "", "QUERY_STRING": scope.get("query_string", b"").decode(
                   "latin-1"), "SERVER_NAME": "astara", "SERVER_PORT": "0",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": scope.get("scheme", "http"),
               "wsgi.input": None, "wsgi.errors": None}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if is_identity(name) and name.lower() not in CLIENT_TOKENS:
            continue
        name = name.upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def validated_headers(original: Iterable[tuple[bytes, bytes]],
                      environ: dict) -> list[tuple[bytes, bytes]]:
    """The request's headers less every identity header it came with, plus the identity
    headers auth_token set in ``environ`` (a validated token's)."""
    kept = [(n, v) for n, v in original if not is_identity(n.decode("latin-1"))]
    for key, value in environ.items():
        if not key.startswith("HTTP_") or not isinstance(value, str):
            continue
        name = key[5:].replace("_", "-").lower()
        if is_identity(name):
            kept.append((name.encode("latin-1"), header_value(value)))
    return kept


def header_value(value: str) -> bytes:
    """A header value auth_token set, as ASGI bytes: UTF-8 (a user or project may be
    named "Проект"); a lone surrogate, which UTF-8 cannot carry, is escaped, not raised."""
    return value.encode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Refusal:
    status: int
    www_authenticate: str | None


def load_conf(config_files: Iterable[str]) -> cfg.ConfigOpts:
    """A ConfigOpts over the service's own files: auth_token registers and reads its
    ``[keystone_authtoken]`` options (and its auth plugin's) there."""
    conf = cfg.ConfigOpts()
    conf(args=[], project="astara", default_config_files=list(config_files),
         default_config_dirs=[])
    return conf


class TokenAuth:
    """ASGI middleware: only requests with a token Keystone vouches for reach ``app``."""

    def __init__(self, app: ASGIApp, config_files: Iterable[str],
                 fault: Callable[[int, str], Response]):
        # Imported here: a noauth service never loads keystonemiddleware.
        from keystonemiddleware import auth_token

        self.app = app
        self.fault = fault
        self.auth = auth_token.AuthProtocol(_passed_on, {"oslo_config_config":
                                                         load_conf(config_files)})
        self.limiter: CapacityLimiter | None = None  # made in the event loop, on first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            if self.limiter is None:
                self.limiter = CapacityLimiter(VALIDATION_THREADS)
            outcome = await anyio.to_thread.run_sync(self._validate, environ_of(scope),
                                                     limiter=self.limiter)
            if not isinstance(outcome, Refusal):
                headers = validated_headers(scope["headers"], outcome)
        except Exception as e:  # never a traceback as a 500: the request is not let through
            # auth_token lets a timeout (a hung Keystone) escape: said by _refuse's line.
            if not isinstance(e, ks_exceptions.ConnectionError):
                LOG.exception("token validation failed: %s %s", scope["method"], scope["path"])
            outcome = Refusal(503, None)
        if isinstance(outcome, Refusal):
            await self._refuse(outcome, scope, receive, send)
            return
        await self.app({**scope, "headers": headers}, receive, send)

    def _validate(self, environ: dict) -> dict | Refusal:
        answer: list = []
        passed: list[dict] = []
        environ[PASSED] = passed

        def start_response(status: str, headers: list, exc_info=None) -> None:
            answer.append((int(status.split(" ", 1)[0]), headers))

        for _ in self.auth(environ, start_response):  # a refusal's body: ours replaces it
            pass
        if passed:
            return passed[0]
        status, headers = answer[0]
        www = next((v for n, v in headers if n.lower() == "www-authenticate"), None)
        return Refusal(status, www)

    async def _refuse(self, refusal: Refusal, scope: Scope, receive: Receive,
                      send: Send) -> None:
        if refusal.status == 401:
            message = "The request you have made requires authentication."
        elif refusal.status == 503:
            LOG.error("Keystone unreachable: %s %s answered 503 (token not validated)",
                      scope["method"], scope["path"])
            message = "The Keystone service is temporarily unavailable."
        else:
            message = "The request was refused by token validation."
        response = self.fault(refusal.status, message)
        if refusal.www_authenticate:
            response.headers["WWW-Authenticate"] = refusal.www_authenticate
        await response(scope, receive, send)


PASSED = "astara.token_auth.passed"


def _passed_on(environ: dict, start_response) -> list[bytes]:
    """The app behind auth_token: notes the environ it reached (identity set)."""
    environ[PASSED].append(environ)
    start_response("204 No Content", [])
    return []
