"""The orchestrator's RPC API (port 44250): operator commands and views, JSON.

Commands (``PUT``): ``/poll/``, ``/workers/debug/``, ``/router/{rebuild,update,
debug,manage}/<id>`` (any kind's id), ``/loadbalancer/{rebuild,update,debug,manage}/<id>``
(a load balancer's only), ``/tenant/{debug,manage}/<id>``, ``/global/{debug,manage}/``;
a body ``{"reason": "..."}`` is optional for debug. Views (``GET``): ``/routers/``
(every kind, or one: ``?kind=router``), ``/routers/<id>`` (any kind),
``/loadbalancers/``, ``/loadbalancers/<id>`` (load balancers only, with their VIP,
children and statuses), ``/workers/``, ``/debug/``, ``/health/`` (the rebuild breaker
and the bus), ``/cluster/`` (the members, their share of the ring, leases and last
heartbeat; ``DELETE /cluster/members/NAME`` drops a member removed for good).

In a cluster, a command on one resource, or ``GET`` of one resource this member does
not hold, is forwarded to the member the ring gives it to (``X-Astara-Forwarded``
marks it; it is never forwarded twice). ``/routers/`` and ``/loadbalancers/`` with
``?cluster=1`` add every other member's own list (asked at once over their RPC APIs;
each row names its ``member``, those that did not answer are in ``unanswered``);
without it, and ``/tenant/``, ``/global/`` and ``/poll/``, are this member's alone.

Every route, reads included, wants the operator's token in ``X-Auth-Token``
(``[orchestrator] rpc_auth_token_file``, compared in constant time), or a cluster
member's signature made with it (``peer_auth``: members never send the token to each
other): anything else is a 401 before routing. In a cluster every answer names its
member (``X-Astara-Member``). Errors are ``{"error": {"code", "message"}}``.
``GET /metrics`` (the same token) renders the Prometheus metrics (``metrics``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from astara.bus.outbox_lag import OutboxLag
from astara.common import metrics as metrics_mod
from astara.common.guard import Guard, replaying
from astara.common.metrics_http import RequestMetrics, endpoint
from astara.orchestrator import peer_auth
from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.metrics import OrchestratorMetrics
from astara.orchestrator.service import Orchestrator

LOG = logging.getLogger(__name__)
TOKEN_HEADER = "X-Auth-Token"
FORWARDED_HEADER = "X-Astara-Forwarded"
MEMBER_HEADER = "X-Astara-Member"  # on every answer in a cluster: who answered
PEER_SCOPE = "astara.peer"  # set by PeerAuth: the member whose signature held
MAX_BODY = 64 * 1024  # a command's body is at most a short reason
KINDS = ("router", "loadbalancer")
COMMANDS = ("rebuild", "update", "debug", "manage")
FANOUT_TIMEOUT = 10.0  # each peer's whole answer in a cluster-wide list (astara-ctl: 30 s)


def error_body(status: int, message: str) -> dict:
    return {"error": {"code": status, "message": message}}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


def token_matches(token: bytes, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode("latin-1"), token)


async def _reason(request: Request) -> str:
    raw = await request.body()
    if not raw:
        return ""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, bad UTF-8, nested too deep
        return ""
    reason = str(body.get("reason", ""))[:255] if isinstance(body, dict) else ""
    return _printable(reason)


def _printable(text: str) -> str:
    # What the database and a JSON view can hold: no lone surrogates, no NUL.
    return text.encode("utf-8", "replace").decode().replace("\x00", "")


def _bad_id(value: str) -> JSONResponse | None:
    if not value or len(value) > 255 or _printable(value) != value \
            or not value.isprintable():
        return _error(400, "an id is 1 to 255 printable characters")
    return None


def registries(orch: Orchestrator) -> metrics_mod.Registries:
    """What ``/metrics`` renders: the workers' tallies, the resources, intake's lag."""
    regs = metrics_mod.registries()
    regs.exposed.register(OrchestratorMetrics(orch))
    consumer = getattr(orch, "consumer", None)  # None before start (and in test doubles)
    if consumer is not None:
        regs.exposed.register(OutboxLag(consumer))
    return regs


def _rows(answer: httpx.Response | BaseException, key: str) -> list[dict] | None:
    """A member's list from its answer; None: it did not answer one."""
    if isinstance(answer, BaseException) or answer.status_code != 200:
        return None
    try:
        rows = answer.json()[key]
    except (ValueError, KeyError, TypeError):
        return None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else None


def build_app(orch: Orchestrator, token: bytes) -> RequestMetrics:
    """The RPC API, answering only callers that send ``token``."""
    if not token:
        raise ValueError("the RPC API needs a non-empty token")
    metrics = registries(orch)
    # A rolling upgrade from members signing the earlier way (``peer_auth``).
    transition = bool(getattr(getattr(orch, "coordination", None),
                              "peer_signature_transition", False))

    async def poll(request: Request):
        n = await run_in_threadpool(orch.poll)
        return JSONResponse({"queued": n})

    async def workers_debug(request: Request):
        views = orch.worker_views()
        for v in views:
            LOG.info("worker %s: %s", v["index"], v)
        return JSONResponse({"workers": views})

    async def forwarded(request: Request, rid: str) -> JSONResponse | None:
        """In a cluster, a request about a resource another member owns is answered by
        that member (the caller's token passed on: members share the RPC token); None:
        answer here. A forwarded request is never forwarded again."""
        if request.headers.get(FORWARDED_HEADER):
            return None
        target = orch.forward_target(rid)
        if target is None:
            return None
        name, url = target
        if not url:
            return _error(503, f"{rid} is owned by cluster member {name[:64]!r}, whose RPC "
                          "API is not known")
        body_in = await request.body()
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                r = await client.request(
                    request.method, url.rstrip("/") + request.url.path,
                    content=body_in,
                    headers={**signed(request.method, request.url.path, "", body_in, name),
                             "Content-Type": "application/json"})
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            return _error(503, f"{rid} is owned by cluster member {name[:64]!r}, which did "
                          f"not answer at {url[:200]}: {type(exc).__name__}")
        return JSONResponse(body, status_code=r.status_code,
                            headers={FORWARDED_HEADER: name[:200]})

    async def command(request: Request, kind: str | None) -> JSONResponse:
        """A command on one resource: of any kind (``kind`` None), or only of ``kind``."""
        action, rid = request.path_params["action"], request.path_params["id"]
        noun = kind or "router"
        if (bad := _bad_id(rid)) is not None:
            return bad
        if action not in COMMANDS:
            return _error(404, f"unknown {noun} command {action[:64]!r}")
        if (answer := await forwarded(request, rid)) is not None:
            return answer
        try:
            ref = await run_in_threadpool(orch.ref_for, rid)
        except RemoteError as exc:
            return _error(503, str(exc))
        if ref is None or (kind is not None and ref.kind != kind) \
                or (ref.id != router_ha.router_of(ref.id) and action != "rebuild"):
            # an HA member's key is for its own rebuild only (the rest is its router's)
            return _error(404, f"{noun} {rid} not found")
        if action == "rebuild":
            orch.rebuild(ref)
        elif action == "update":
            orch.submit(ref)
        elif action == "debug":
            # Debug switches are keyed by id whatever the kind (the reconciler's is_debug).
            await run_in_threadpool(orch.debug.set, "router", rid, await _reason(request))
            orch.broadcast_debug()
        elif action == "manage":
            await run_in_threadpool(orch.debug.clear, "router", rid)
            orch.broadcast_debug()
            orch.submit(ref)
        return JSONResponse({noun: rid, "kind": ref.kind, "command": action})

    async def router_cmd(request: Request):
        return await command(request, None)

    async def loadbalancer_cmd(request: Request):
        return await command(request, "loadbalancer")

    async def tenant_cmd(request: Request):
        action, tid = request.path_params["action"], request.path_params["id"]
        if (bad := _bad_id(tid)) is not None:
            return bad
        if action == "debug":
            await run_in_threadpool(orch.debug.set, "tenant", tid, await _reason(request))
        elif action == "manage":
            await run_in_threadpool(orch.debug.clear, "tenant", tid)
        else:
            return _error(404, f"unknown tenant command {action[:64]!r}")
        orch.broadcast_debug()
        if action == "manage":
            for ref in [r for r in list(orch.known.values()) if r.tenant_id == tid]:
                orch.submit(ref)
        return JSONResponse({"tenant": tid, "command": action})

    async def global_cmd(request: Request):
        action = request.path_params["action"]
        if action == "debug":
            await run_in_threadpool(orch.debug.set, "global", "*", await _reason(request))
        elif action == "manage":
            await run_in_threadpool(orch.debug.clear, "global", "*")
        else:
            return _error(404, f"unknown global command {action[:64]!r}")
        orch.broadcast_debug()
        if action == "manage":
            await run_in_threadpool(orch.poll)
        return JSONResponse({"global": action})

    def views(kind: str | None) -> list[dict]:
        return [v for v in orch.router_views() if kind is None or v.get("kind") == kind]

    def signed(method: str, path: str, query: str, body: bytes, to: str) -> dict[str, str]:
        return peer_auth.headers(token, method, peer_auth.target(path, query), body,
                                 time.time(), orch.coordination.member_name,
                                 FORWARDED_HEADER, to, both=transition)

    async def cluster_wide(request: Request, key: str, rows: list[dict]) -> JSONResponse:
        """``?cluster=1``: this member's rows and every other member's, each marked with
        its member (asked over their RPC APIs at once, signed: ``peer_auth``); the
        members that did not answer, or not as themselves, are named in ``unanswered``
        (why in ``unanswered_why``)."""
        me = orch.coordination.member_name
        out = [{**r, "member": me} for r in rows]
        why: dict[str, str] = {}
        ours = (orch.ownership.rpc_url if orch.ownership is not None else "").rstrip("/")
        asked: list[tuple[str, str]] = []
        for name, url in orch.peers():
            if not url:
                why[name] = "advertises no RPC URL"
            elif url.rstrip("/") == ours:
                why[name] = f"unreachable: advertises the same URL as {me} ({url[:200]})"
            else:
                asked.append((name, url))
        query = urlencode([(k, v) for k, v in request.query_params.multi_items()
                           if k != "cluster"])
        if asked:
            async with httpx.AsyncClient(timeout=FANOUT_TIMEOUT) as client:
                async def one(name: str, url: str) -> httpx.Response:
                    return await asyncio.wait_for(client.get(
                        url.rstrip("/") + request.url.path + (f"?{query}" if query else ""),
                        headers=signed("GET", request.url.path, query, b"", name)),
                        FANOUT_TIMEOUT)
                answers = await asyncio.gather(*(one(name, url) for name, url in asked),
                                               return_exceptions=True)
            for (name, _), answer in zip(asked, answers, strict=True):
                theirs = _rows(answer, key)
                if theirs is None:
                    why[name] = "did not answer"
                elif answer.headers.get(MEMBER_HEADER) != name:  # type: ignore[union-attr]
                    said = answer.headers.get(MEMBER_HEADER, "")[:64]  # type: ignore[union-attr]
                    why[name] = f"unreachable: its URL is answered by {said or 'another'!r}"
                else:
                    out += [{**r, "member": name} for r in theirs]
        unanswered = sorted(why)
        return JSONResponse({key: out, "unanswered": unanswered,
                             "unanswered_why": {n: why[n] for n in unanswered}})

    def wants_cluster(request: Request) -> bool:
        return (request.query_params.get("cluster") in ("1", "true")
                and not request.headers.get(FORWARDED_HEADER))

    async def routers(request: Request):
        kind = request.query_params.get("kind")
        if kind is not None and kind not in KINDS:
            return _error(400, f"kind is one of {', '.join(KINDS)}")
        if wants_cluster(request):
            return await cluster_wide(request, "routers", views(kind))
        return JSONResponse({"routers": views(kind)})

    async def router(request: Request):
        rid = request.path_params["id"]
        found = next((r for r in views(None) if r["id"] == rid), None)
        if found is None and (answer := await forwarded(request, rid)) is not None:
            return answer
        if found is None:
            return _error(404, f"router {rid} is not known to this orchestrator")
        return JSONResponse({"router": found})

    async def loadbalancers(request: Request):
        if wants_cluster(request):
            return await cluster_wide(request, "loadbalancers", views("loadbalancer"))
        return JSONResponse({"loadbalancers": views("loadbalancer")})

    async def loadbalancer(request: Request):
        lid = request.path_params["id"]
        found = next((r for r in views("loadbalancer") if r["id"] == lid), None)
        if found is None and (answer := await forwarded(request, lid)) is not None:
            return answer
        if found is None:
            return _error(404, f"loadbalancer {lid} is not known to this orchestrator")
        return JSONResponse({"loadbalancer": found})

    async def cluster(request: Request):
        return JSONResponse({"cluster": await run_in_threadpool(orch.cluster_view)})

    async def cluster_forget(request: Request):
        name = request.path_params["name"]
        if not 0 < len(name) <= 255:
            return _error(400, "a member name is 1 to 255 characters")
        code, body = await run_in_threadpool(orch.forget_member, name)
        return JSONResponse(body, status_code=code)

    async def workers(request: Request):
        return JSONResponse({"workers": orch.worker_views()})

    async def health(request: Request):
        # In a thread: the board's lock may wait (bounded) on a worker that died holding it.
        return JSONResponse({"breaker": await run_in_threadpool(orch.health_view),
                             "bus": orch.bus_view()})

    async def debug(request: Request):
        snap = await run_in_threadpool(orch.debug.snapshot)
        return JSONResponse({"routers": snap.routers, "tenants": snap.tenants,
                             "global": snap.global_reason})

    async def http_error(request: Request, exc: Exception):
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail))

    app = Starlette(exception_handlers={HTTPException: http_error}, routes=[
        Route("/poll/", poll, methods=["PUT"]),
        Route("/workers/debug/", workers_debug, methods=["PUT"]),
        Route("/router/{action}/{id}", router_cmd, methods=["PUT"]),
        Route("/loadbalancer/{action}/{id}", loadbalancer_cmd, methods=["PUT"]),
        Route("/tenant/{action}/{id}", tenant_cmd, methods=["PUT"]),
        Route("/global/{action}/", global_cmd, methods=["PUT"]),
        Route("/routers/", routers, methods=["GET"]),
        Route("/routers/{id}", router, methods=["GET"]),
        Route("/loadbalancers/", loadbalancers, methods=["GET"]),
        Route("/loadbalancers/{id}", loadbalancer, methods=["GET"]),
        Route("/workers/", workers, methods=["GET"]),
        Route("/cluster/", cluster, methods=["GET"]),
        Route("/cluster/members/{name}", cluster_forget, methods=["DELETE"]),
        Route("/debug/", debug, methods=["GET"]),
        Route("/health/", health, methods=["GET"]),
        Route("/metrics", endpoint(metrics.exposed), methods=["GET"]),
    ])

    def allowed(scope, headers: Headers) -> bool:
        return scope.get(PEER_SCOPE) is not None or token_matches(token, headers.get(TOKEN_HEADER))

    coordination = getattr(orch, "coordination", None)  # None: a test double, alone
    member = coordination.member_name if coordination is not None and coordination.enabled \
        else None
    if member is not None and transition:
        LOG.warning("rpc: [coordination] peer_signature_transition is on: calls to other "
                    "members are signed both ways, and calls signed the earlier way (no "
                    "receiver) are accepted, so one can be replayed to another member; "
                    "turn it off on every member once all are upgraded")
    # Outside the guard: refused callers are counted too (as "unmatched": not routed).
    return RequestMetrics(
        PeerAuth(Guard(app, allowed, error_body, MAX_BODY, scheme=TOKEN_HEADER), token,
                 member, earlier=transition and member is not None),
        metrics_mod.HttpMetrics("orchestrator", metrics.values))


class PeerAuth:
    """The ASGI edge of ``peer_auth``: a request carrying a member's signature is read
    (bounded), checked, and passed on marked (``PEER_SCOPE``) or refused with 401 (one
    log line); every answer names this member (``MEMBER_HEADER``) in a cluster. A
    signature dated before it was made is refused (the run before may have seen it)."""

    def __init__(self, app, token: bytes, member: str | None,
                 clock: Callable[[], float] = time.time, earlier: bool = False) -> None:
        """``earlier``: accept calls signed the earlier way too (a rolling upgrade)."""
        self.app, self.token, self.member, self.clock = app, token, member, clock
        self.earlier = earlier
        self.replays = peer_auth.Replays()
        self.started = clock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.member is not None:
            name = self.member.encode("latin-1", "replace")[:200]
            inner_send = send

            async def send(message: dict) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (MEMBER_HEADER.lower().encode(), name)]}
                await inner_send(message)
        headers = Headers(scope=scope)
        given = headers.get(peer_auth.SIGNATURE_HEADER)
        given_v2 = headers.get(peer_auth.SIGNATURE_V2_HEADER)
        if given is None and given_v2 is None:
            # In place, not a copy: the router's match, set in this scope, is what the
            # metrics middleware outside reads for the route label.
            scope.pop(PEER_SCOPE, None)
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                break
        now = self.clock()
        sender = headers.get(FORWARDED_HEADER)
        nonce = headers.get(peer_auth.NONCE_HEADER)
        target = peer_auth.target(scope["path"], scope.get("query_string", b"").decode("latin-1"))
        why = "body too large" if len(body) > MAX_BODY else peer_auth.verify(
            self.token, scope["method"], target, body, headers.get(peer_auth.TIME_HEADER),
            given, sender, now, nonce, self.member or "", headers.get(peer_auth.TO_HEADER),
            self.started, given_v2, self.earlier)
        if why is None and not self.replays.first(
                peer_auth.replay_key(headers.get(peer_auth.TIME_HEADER, ""), nonce or "",
                                     sender or "", given_v2 or given or ""), now):
            why = "signature already used"
        if why is not None:
            LOG.warning("rpc: a member-signed %s %s refused: %s", scope["method"],
                        scope["path"][:200], why)
            response = JSONResponse(error_body(401, f"authentication required: {why}"),
                                    status_code=401)
            await response(scope, receive, send)
            return
        scope[PEER_SCOPE] = sender
        await self.app(scope, replaying(body, receive), send)
