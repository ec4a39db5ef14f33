"""HTTP layer of the network service: Neutron v2.0 routes, thin handlers.

Each handler reads the request context from headers, parses and validates the
body with ``attributes``, hands the work to ``NetworkService`` in a worker
thread, and renders the result or a ``NeutronError`` body. Nothing escapes as a
traceback: unexpected failures are logged and answered with a 500 body.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from astara.common import metrics as metrics_mod
from astara.common.metrics_http import RequestMetrics, endpoint
from astara.network_service import attributes as A
from astara.network_service import errors, extensions, limits, query
from astara.network_service.context import RequestContext
from astara.network_service.resources import network_routers
from astara.network_service.service import NetworkService

LOG = logging.getLogger(__name__)

def _error(exc: errors.NeutronError, request_id: str | None = None) -> Response:
    headers = {"X-Openstack-Request-Id": request_id} if request_id else None
    # ASCII escapes: whatever a message quotes, rendering it cannot fail.
    return Response(json.dumps(exc.body()), status_code=exc.status, headers=headers,
                    media_type="application/json")


READS = frozenset({"GET", "HEAD"})
VERBS = {"POST": "create", "PUT": "update", "DELETE": "delete"}


def write_action(request: Request) -> str:
    """The policy rule a write names in its refusal (``create_network``...)."""
    params = request.path_params
    resource = A.RESOURCES.get(params.get("plural", "").removesuffix(".json"))
    if resource is not None:
        return f"{VERBS.get(request.method, 'update')}_{resource.name}"
    return params.get("action") or f"{VERBS.get(request.method, 'update')}_resource"


def auth_fault(status: int, message: str) -> Response:
    """A request auth_token refused (401; 503: Keystone unreachable), in Neutron's body."""
    err = errors.NeutronError(message=message, type_="HTTPUnauthorized" if status == 401
                              else "HTTPServiceUnavailable")
    err.status = status
    return _error(err)


def _context(request: Request) -> RequestContext:
    ctx = RequestContext.from_headers(request.headers)
    # A project id longer than the column holding it names no project.
    if ctx is None or len(ctx.project_id) > MAX_ID:
        raise errors.Unauthorized()
    return ctx


async def _json(request: Request) -> Any:
    raw = await request.body()  # bounded by limits.BodyLimit
    if not raw:
        raise errors.bad_attr("Resource body required")
    return limits.parse_json(raw)


# What a show/update/delete of an id that cannot exist answers (never a database error).
NOT_FOUND = {
    "networks": lambda id_: errors.NetworkNotFound(net_id=id_),
    "subnets": lambda id_: errors.SubnetNotFound(subnet_id=id_),
    "ports": lambda id_: errors.PortNotFound(port_id=id_),
    "routers": lambda id_: errors.RouterNotFound(router_id=id_),
    "floatingips": lambda id_: errors.FloatingIPNotFound(floatingip_id=id_),
    "byonfs": lambda id_: errors.ByonfNotFound(byonf_id=id_),
}
MAX_ID = 255
MAX_BINDINGS = 64  # one boot's ports (an appliance has a few)


def _id(request: Request, plural: str = "routers") -> str:
    id_ = request.path_params["id"].removesuffix(".json")
    if len(id_) > MAX_ID or limits.check_tree(id_):
        raise NOT_FOUND[plural](errors.shorten(id_, 64))
    return id_


def _resource(request: Request) -> A.Resource:
    plural = request.path_params["plural"].removesuffix(".json")
    resource = A.RESOURCES.get(plural)
    if resource is None:
        raise errors.ResourceNotFound(type_="HTTPNotFound")
    return resource


class Api:
    def __init__(self, service: NetworkService):
        self.service = service

    async def dispatch(self, request: Request, work) -> Response:
        request_id = None
        try:
            ctx = _context(request)
            request_id = ctx.request_id
            if ctx.read_only and request.method not in READS:
                raise errors.PolicyNotAuthorized(action=write_action(request))
            status, body = await work(request, ctx)
            headers = {"X-Openstack-Request-Id": request_id}
            if body is None:
                return Response(status_code=status, headers=headers)
            return JSONResponse(body, status_code=status, headers=headers)
        except errors.NeutronError as exc:
            return _error(exc, request_id)
        except ClientDisconnect:
            # Nobody reads this answer; the client went away mid-body.
            return Response(status_code=400)
        except DataError as exc:
            # The database refused a value the checks let through: still the caller's input.
            LOG.warning("value refused by the database: %s", exc.orig)
            return _error(errors.bad_attr("Invalid input: a value is not acceptable"),
                          request_id)
        except IntegrityError as exc:
            LOG.info("conflicting write refused: %s", exc.orig)
            return _error(errors.Conflict(message="The request conflicts with a concurrent "
                                          "change; retry it.", type_="Conflict"), request_id)
        except OperationalError:
            LOG.exception("database unavailable")
            err = errors.NeutronError(message="The database is busy or unavailable; retry.",
                                      type_="ServiceUnavailable")
            err.status = 503
            return _error(err, request_id)
        except Exception:
            LOG.exception("request %s %s failed", request.method, request.url.path)
            return _error(errors.NeutronError(
                message="Request Failed: internal server error while processing your request.",
                type_="HTTPInternalServerError"), request_id)

    async def collection(self, request: Request) -> Response:
        return await self.dispatch(request, self._collection)

    async def member(self, request: Request) -> Response:
        return await self.dispatch(request, self._member)

    async def interface(self, request: Request) -> Response:
        return await self.dispatch(request, self._interface)

    async def _collection(self, request: Request, ctx: RequestContext):
        resource = _resource(request)
        if request.method == "GET":
            items = list(request.query_params.multi_items())
            q = query.parse(resource, items, ctx, self.service.settings.max_page_size)
            found, _ = await run_in_threadpool(self.service.list, ctx, resource.plural, q)
            body: dict[str, Any] = {
                resource.plural: [query.select_fields(it, q.fields) for it in found]}
            links = query.links(str(request.url.replace(query="")), found, q, items)
            if links:
                body[f"{resource.plural}_links"] = links
            return 200, body
        payload = await _json(request)
        bulk = isinstance(payload, dict) and resource.plural in payload
        if bulk:
            raw = payload[resource.plural]
            if not isinstance(raw, list) or not raw:
                raise errors.bad_attr("Resources required")
        else:
            if not isinstance(payload, dict) or not isinstance(payload.get(resource.name), dict):
                raise errors.bad_attr(f"Unable to find '{resource.name}' in request body")
            raw = [payload[resource.name]]
        items = [A.parse_body(resource, {resource.name: r}, ctx, create=True) for r in raw]
        created = await run_in_threadpool(self.service.create, ctx, resource.plural, items, raw)
        return 201, {resource.plural: created} if bulk else {resource.name: created[0]}

    async def _member(self, request: Request, ctx: RequestContext):
        resource = _resource(request)
        id_ = _id(request, resource.plural)
        if request.method == "GET":
            fields = [f for v in request.query_params.getlist("fields") for f in v.split(",")]
            item = await run_in_threadpool(self.service.show, ctx, resource.plural, id_)
            return 200, {resource.name: query.select_fields(item, fields)}
        if request.method == "DELETE":
            await run_in_threadpool(self.service.delete, ctx, resource.plural, id_)
            return 204, None
        payload = await _json(request)
        data = A.parse_body(resource, payload, ctx, create=False)
        item = await run_in_threadpool(
            self.service.update, ctx, resource.plural, id_, data, payload[resource.name])
        return 200, {resource.name: item}

    async def router_model(self, request: Request) -> Response:
        return await self.dispatch(request, self._router_model)

    async def _router_model(self, request: Request, ctx: RequestContext):
        body = await run_in_threadpool(self.service.router_model, ctx, _id(request))
        return 200, body

    async def port_bindings(self, request: Request) -> Response:
        return await self.dispatch(request, self._port_bindings)

    async def _port_bindings(self, request: Request, ctx: RequestContext):
        """``{"bindings": [{"port_id": ..., "host": ...}, ...]}``: each checked as
        ``PUT /ports/{id}`` with ``binding:host_id`` is (an admin's only), all bound in
        one transaction; an answer as a bulk create's, ``{"ports": [...]}``."""
        body = await _json(request)
        raw = body.get("bindings") if isinstance(body, dict) else None
        if not isinstance(raw, list) or not raw or len(body) != 1:
            raise errors.bad_attr("Unable to find 'bindings' in request body")
        if len(raw) > MAX_BINDINGS:
            raise errors.bad_attr(f"At most {MAX_BINDINGS} bindings in one request")
        ports = A.RESOURCES["ports"]
        items: list[tuple[str, dict, dict]] = []
        for entry in raw:
            if not isinstance(entry, dict) or set(entry) != {"port_id", "host"} \
                    or not isinstance(entry["port_id"], str):
                raise errors.bad_attr("Each binding is {'port_id': ..., 'host': ...}")
            port_id = entry["port_id"]
            if len(port_id) > MAX_ID or limits.check_tree(port_id):
                raise NOT_FOUND["ports"](errors.shorten(port_id, 64))
            update = {"binding:host_id": entry["host"]}
            items.append((port_id, A.parse_body(ports, {"port": update}, ctx, create=False),
                          update))
        if len({port_id for port_id, _, _ in items}) != len(items):
            raise errors.bad_attr("A port is named twice")
        bound = await run_in_threadpool(self.service.bind_ports, ctx, items)
        return 200, {"ports": bound}

    async def _interface(self, request: Request, ctx: RequestContext):
        action = request.path_params["action"]
        if action not in ("add_router_interface", "remove_router_interface"):
            raise errors.ResourceNotFound(type_="HTTPNotFound")
        add = action == "add_router_interface"
        body = await _json(request)
        info = await run_in_threadpool(
            self.service.router_interface, ctx, _id(request), body, add)
        return 200, info


async def versions(request: Request) -> Response:
    base = str(request.base_url)
    return JSONResponse({"versions": [{
        "id": "v2.0", "status": "CURRENT",
        "links": [{"href": f"{base}v2.0/", "rel": "self"}]}]})


async def root_v2(request: Request) -> Response:
    base = str(request.base_url)
    return JSONResponse({"resources": [
        {"name": r.name, "collection": r.plural,
         "links": [{"href": f"{base}v2.0/{r.plural}", "rel": "self"}]}
        for r in A.RESOURCES.values()]})


async def not_found(request: Request, exc: Exception) -> Response:
    return _error(errors.ResourceNotFound(type_="HTTPNotFound"))


async def not_allowed(request: Request, exc: Exception) -> Response:
    err = errors.NeutronError(message="The method is not allowed for the requested URL.",
                              type_="HTTPMethodNotAllowed")
    err.status = 405
    return _error(err)


async def http_error(request: Request, exc: Exception) -> Response:
    """Any other error Starlette raises itself, in Neutron's body instead of text/plain."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    err = errors.NeutronError(message=errors.shorten(getattr(exc, "detail", "") or "Error"),
                              type_="HTTPBadRequest" if status == 400 else "HTTPError")
    err.status = status
    return _error(err)


async def server_error(request: Request, exc: Exception) -> Response:
    LOG.error("request %s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(errors.NeutronError(
        message="Request Failed: internal server error while processing your request.",
        type_="HTTPInternalServerError"))


def refuse_metrics(request: Request) -> Response | None:
    """Only an admin reads ``/metrics``: its counts span every project."""
    ctx = RequestContext.from_headers(request.headers)
    if ctx is None:
        return _error(errors.Unauthorized())
    return None if ctx.is_admin else _error(errors.NotAuthorized())


def build_app(service: NetworkService, extra_routes: Callable[[Callable], list[Route]]
              | None = None, extra_extensions: dict[str, tuple[str, str]] | None = None,
              metrics: metrics_mod.Registries | None = None) -> Starlette:
    """``extra_routes(dispatch)``: more paths answered through ``Api.dispatch`` (the
    Neutron LBaaS v2 paths), matched before the generic ``/v2.0/{plural}`` ones;
    ``extra_extensions``: their aliases for ``/v2.0/extensions``; ``metrics``: the
    registries ``/metrics`` serves (new ones by default)."""
    api = Api(service)
    metrics = metrics or metrics_mod.registries()
    http = metrics_mod.HttpMetrics("network", metrics.values)
    routes = [
        Route("/", versions, methods=["GET"]),
        Route("/metrics", endpoint(metrics.exposed, refuse_metrics), methods=["GET"]),
        Route("/v2.0", root_v2, methods=["GET"]),
        Route("/v2.0/", root_v2, methods=["GET"]),
        Route("/v2.0/extensions", extensions.index, methods=["GET"]),
        Route("/v2.0/extensions/{alias}", extensions.show, methods=["GET"]),
        Route("/v2.0/routers/{id}/astara_model", api.router_model, methods=["GET"]),
        Route("/v2.0/networks/{id}/astara_routers", network_routers.endpoint(api), methods=["GET"]),
        Route("/v2.0/routers/{id}/{action:str}", api.interface, methods=["PUT"]),
        Route("/v2.0/astara_port_bindings", api.port_bindings, methods=["PUT"]),
        *(extra_routes(api.dispatch) if extra_routes else []),
        Route("/v2.0/{plural}", api.collection, methods=["GET", "POST"]),
        Route("/v2.0/{plural}/{id}", api.member, methods=["GET", "PUT", "DELETE"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(service.close)  # what is queued for Nova goes out first

    # Requests are labelled by route template, with the resource's plural put in when
    # it names one (a fixed set: never a caller's text).
    plurals = {"plural": frozenset(A.RESOURCES)}
    app = Starlette(routes=routes, middleware=[Middleware(RequestMetrics, http=http,
                                                          known=plurals),
                                               Middleware(limits.BodyLimit)],
                    exception_handlers={404: not_found, 405: not_allowed,
                                        HTTPException: http_error, Exception: server_error},
                    lifespan=lifespan)
    app.state.service = service
    app.state.metrics = metrics
    app.state.extensions = {**extensions.EXTENSIONS, **(extra_extensions or {})}
    return app
