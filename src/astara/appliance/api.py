"""The appliance REST API (v1), one Starlette app for every appliance of the agent.

Thin handlers: find the appliance the connection arrived for (`host` puts it in
the ASGI scope), validate, run the blocking work in a thread, answer. The
status answer is kept until something changes (`status.Cache`). A PUT takes
the appliance's lock, so applies are serialized; reads never wait for an apply
and see the last applied config. Invalid or unknown-version documents, and
documents that do not fit the appliance (a missing interface), get 422. A push
carrying an orchestrator epoch older than one accepted before is refused with 409
and changes nothing (``fencing``; ``wire.tenure``); one carrying an operator's fence
override (and no epoch) is applied whatever epoch is held, with a WARNING.

Only the orchestrator may call it: every route wants ``Authorization: Bearer
<the appliance's secret>`` (`wire.auth`; `Served.secret`), checked in constant
time before routing, else 401. Bodies are bounded (413 over `MAX_BODY`); errors
are ``{"error": "..."}`` JSON, unknown routes and methods included. ``GET /metrics``
renders the appliance's Prometheus metrics (``appliance.metrics``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from astara.appliance import status as status_mod
from astara.appliance.converge import Appliance
from astara.appliance.fencing import FILE, Fencing, Unreadable, Unsaved
from astara.appliance.metrics import ApplianceMetrics
from astara.appliance.phases import Phases, server_timing
from astara.common.guard import Guard
from astara.common.metrics_http import endpoint
from astara.wire import DocumentError, auth, parse_config, tenure
from astara.wire.loadbalancer_config import redacted

LOG = logging.getLogger(__name__)
SCOPE_KEY = "astara.appliance"
MAX_BODY = 4 * 1024 * 1024  # a router with thousands of ports and floating IPs fits


def _no_watch(pids: list[int]) -> None:
    pass


@dataclass
class Served:
    appliance: Appliance
    secret: str  # what the orchestrator must send (`wire.auth.appliance_secret`)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    status: status_mod.Cache = field(default_factory=status_mod.Cache)
    watch: Callable[[list[int]], None] = _no_watch  # tell me when these processes exit
    metrics: ApplianceMetrics = field(default_factory=ApplianceMetrics)
    _fencing: Fencing | None = None

    @property
    def fencing(self) -> Fencing:
        """The highest orchestrator epoch accepted (read from disk at first use)."""
        if self._fencing is None:
            self._fencing = Fencing(self.appliance.state_dir)
        return self._fencing


def error_body(status: int, message: str) -> dict:
    return {"error": message}


def _served(request: Request) -> Served:
    return request.scope[SCOPE_KEY]


async def get_status(request: Request) -> Response:
    s = _served(request)
    body = s.status.get(s.appliance)
    if body is None:
        mark, pids = s.status.mark(s.appliance), []
        doc = await asyncio.to_thread(status_mod.status, s.appliance, pids)
        body = JSONResponse(doc.model_dump(mode="json")).body
        s.status.store(mark, body)
        s.watch(pids)
    return Response(body, media_type="application/json")


def cached_status(scope: dict, served: Served) -> bytes | None:
    """The kept status answer of an authenticated ``GET /v1/status/`` without a body,
    else None (the app answers, refusals included): a thousand appliances' health
    checks, most of the agent's idle work, need no middleware or routing."""
    if scope["method"] != "GET" or scope["path"] != "/v1/status/":
        return None
    body = served.status.get(served.appliance)
    if body is None:
        return None
    given = None
    for name, value in scope["headers"]:
        if name == b"content-length" and value != b"0" or name == b"transfer-encoding":
            return None
        if name == b"authorization" and given is None:  # the first, as the app reads
            given = value.decode("latin-1")
    return body if auth.is_bearer(given, served.secret) else None


async def get_rules(request: Request) -> Response:
    text = await asyncio.to_thread(status_mod.ruleset, _served(request).appliance)
    return PlainTextResponse(text)


async def get_interfaces(request: Request) -> Response:
    doc = await asyncio.to_thread(status_mod.status, _served(request).appliance)
    return JSONResponse({"interfaces": [i.model_dump() for i in doc.interfaces]})


async def get_interface(request: Request) -> Response:
    doc = await asyncio.to_thread(status_mod.status, _served(request).appliance)
    for iface in doc.interfaces:
        if iface.ifname == request.path_params["ifname"]:
            return JSONResponse({"interface": iface.model_dump()})
    return JSONResponse({"error": "no such interface"}, status_code=404)


async def get_stats(request: Request) -> Response:
    doc = await asyncio.to_thread(status_mod.status, _served(request).appliance)
    return JSONResponse({
        "interfaces": {i.ifname: i.counters.model_dump() for i in doc.interfaces},
        "nat": doc.nat.model_dump(),
    })


async def get_config(request: Request) -> Response:
    config = _served(request).appliance.config
    if config is None:
        return JSONResponse({"error": "no config applied yet"}, status_code=404)
    doc = config.model_dump(mode="json")
    if doc.get("loadbalancer"):  # a debug view: never the certificates' keys
        doc["loadbalancer"] = redacted(doc["loadbalancer"])
    return JSONResponse(doc)


def _unfenced() -> JSONResponse:
    return JSONResponse({"error": f"the fencing record ({FILE}) cannot be read: this "
                                  "appliance cannot tell which orchestrator epoch it "
                                  "accepted"}, status_code=503)


def _fenced(s: Served, why: str) -> JSONResponse:
    held = s.fencing.accepted
    return JSONResponse({"error": why, "accepted_epoch": held.epoch if held else None},
                        status_code=409)


async def put_tenure(request: Request) -> Response:
    """Record a new owner's epoch (it adopted this appliance without a push): the same
    admission as a push's, nothing applied."""
    s = _served(request)
    try:
        told = tenure.parse(request.headers.get(tenure.EPOCH_HEADER),
                            request.headers.get(tenure.OWNER_HEADER))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if told is None:
        return JSONResponse({"error": f"{tenure.EPOCH_HEADER} is required"}, status_code=400)
    async with s.lock:
        try:
            refused = await asyncio.to_thread(s.fencing.admit, told)
        except Unreadable:
            return _unfenced()
        except Unsaved as exc:  # the member records it again later
            return JSONResponse({"error": f"the epoch could not be recorded ({FILE}): "
                                          f"{str(exc)[:300]}"}, status_code=503)
        if refused is not None:
            return _fenced(s, refused)
        held = s.fencing.accepted
    return JSONResponse({"epoch": held.epoch if held else told.epoch})


def override_outcome(error: str | None, rejected: bool) -> str:
    """What became of a push past the fence, once applied (or not). Pure."""
    if error is None:
        return "applied"
    what = "refused, nothing changed" if rejected else "failed, rolled back"
    return f"{what} ({error[:200]})"


def _overridden(s: Served, who: str, outcome: str) -> None:
    """An operator pushed past the fence: said at WARNING, with the epoch it passed and
    what became of the push (logged after the apply: the line says what happened)."""
    try:
        held = s.fencing.accepted
        holds = f"epoch {held.epoch} (owner {held.owner})" if held else "no epoch"
    except Unreadable:
        holds = f"an unreadable {FILE}"
    LOG.warning("appliance %s: a push overriding the fence, by %s: %s whatever "
                "the epoch (this appliance holds %s, kept)", s.appliance.name,
                tenure.override_text(who), outcome, holds)


async def _in_thread(phases: Phases, fn: Callable, *args):
    """`fn` in a worker thread; the time it waited for one goes to ``queue``."""
    submitted = time.perf_counter()

    def run():
        phases.add("queue", time.perf_counter() - submitted)
        return fn(*args)
    return await asyncio.to_thread(run)


async def put_config(request: Request) -> Response:
    s = _served(request)
    phases = Phases()
    started = time.perf_counter()
    with phases.timed("body"):
        raw = await request.body()
    try:
        with phases.timed("parse"):
            config = parse_config(json.loads(raw))
    except (ValueError, RecursionError) as exc:  # DocumentError; not JSON; nested too deep
        if isinstance(exc, DocumentError):
            message, errors = str(exc), exc.errors
        else:
            message, errors = "the body is not a JSON document", []
        return JSONResponse({"error": message, "details": errors}, status_code=422)
    try:
        pushed = tenure.parse(request.headers.get(tenure.EPOCH_HEADER),
                              request.headers.get(tenure.OWNER_HEADER))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    override = request.headers.get(tenure.OVERRIDE_HEADER)
    if override is not None and pushed is not None:
        return JSONResponse({"error": f"{tenure.OVERRIDE_HEADER} goes with no "
                                      f"{tenure.EPOCH_HEADER}"}, status_code=400)
    t = time.perf_counter()
    async with s.lock:
        phases.add("lock", time.perf_counter() - t)
        try:
            with phases.timed("fencing"):
                refused = await _in_thread(phases, s.fencing.admit, pushed)
        except Unreadable:
            return _unfenced()
        except Unsaved:
            refused = None  # held in memory (logged): the config still applies
        if refused is not None:
            return _fenced(s, refused)
        with phases.timed("apply"):
            result = await _in_thread(phases, s.appliance.apply, config)
        if override is not None:
            await asyncio.to_thread(_overridden, s, override,
                                    override_outcome(result.error, result.rejected))
    s.metrics.applied(result)
    body = {
        "changed": result.changed,
        "digest": s.appliance.digest,
        "nft": result.nft,
        "dhcp": result.dhcp,
        "haproxy": result.haproxy,
        "ha": result.ha,
        "netlink_ops": len(result.ops),
    }
    # "fencing" and "apply" include their thread's queue wait; the apply's own phases
    # follow, then the handler's total.
    phases.merge(result.phases)
    phases.add("total", time.perf_counter() - started)
    headers = {"Server-Timing": server_timing(phases.seconds)}
    if result.error is not None:
        body["error"] = result.error
        return JSONResponse(body, status_code=422 if result.rejected else 500,
                            headers=headers)
    return JSONResponse(body, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(error_body(exc.status_code, str(exc.detail)),
                        status_code=exc.status_code)


def _authenticated(scope, headers: Headers) -> bool:
    return auth.is_bearer(headers.get(auth.HEADER), scope[SCOPE_KEY].secret)


def make_app() -> Guard:
    """The API for the `Served` appliance the caller puts in the scope at `SCOPE_KEY`."""
    app = Starlette(exception_handlers={HTTPException: _http_error}, routes=[
        Route("/v1/status/", get_status),
        Route("/v1/firewall/rules/", get_rules),
        Route("/v1/system/interfaces/", get_interfaces),
        Route("/v1/system/interface/{ifname}/", get_interface),
        Route("/v1/system/stats/", get_stats),
        Route("/v1/system/config/", get_config, methods=["GET"]),
        Route("/v1/system/config/", put_config, methods=["PUT"]),
        Route(tenure.TENURE_PATH, put_tenure, methods=["PUT"]),
        Route("/metrics", endpoint(lambda request: _served(request).metrics.registry),
              methods=["GET"]),
    ])
    return Guard(app, _authenticated, error_body, MAX_BODY, scheme="Bearer")
