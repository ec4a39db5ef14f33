"""HTTP layer of the load-balancer service: Octavia v2 routes, thin handlers.

Each handler reads the caller from the identity headers, checks the role the route
needs (read or write), parses the body with ``attributes``, hands the work to
``LoadBalancerService`` in a worker thread and renders the result, or the error in
Octavia's body. Nothing escapes as a traceback; a database refusing a value is the
caller's 400, a conflicting concurrent write a 409.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from astara.common import metrics as metrics_mod
from astara.common.guard import Guard
from astara.common.metrics_http import RequestMetrics, endpoint
from astara.loadbalancer_service import attributes as A
from astara.loadbalancer_service import errors, query, statuses, versions, views
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.service import PROVIDERS, LoadBalancerService

LOG = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # a batch of members is the largest body
MAX_DEPTH = 32
MAX_ID = 255
VERSION = "{version:str}"
VERSIONS = ("v2", "v2.0")  # what VERSION may be


def render(exc: errors.ApiError, request_id: str | None = None) -> Response:
    headers = {"x-openstack-request-id": request_id} if request_id else None
    return Response(json.dumps(exc.body()), status_code=exc.status, headers=headers,
                    media_type="application/json")


def auth_fault(status: int, message: str) -> Response:
    """A request auth_token refused (401; 503: Keystone unreachable), in Octavia's body."""
    err = errors.ApiError(message)
    err.status = status
    return render(err)


def _context(request: Request) -> RequestContext:
    ctx = RequestContext.from_headers(request.headers)
    if ctx is None:
        raise errors.Forbidden()
    return ctx


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _depth_ok(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return False
            values = list(item.values()) + list(item) if isinstance(item, dict) else item
            stack.extend((v, depth + 1) for v in values)
    return True


async def _json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "application/json")
    if content_type.split(";")[0].strip().lower() not in ("application/json", ""):
        raise errors.FrameworkError(406, "Only content type application/json is accepted.")
    raw = await request.body()
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.BadRequest("Request is not in valid JSON format") from None
    if not _depth_ok(data):
        raise errors.BadRequest("Request is not in valid JSON format")
    return data


def _id(request: Request, key: str, kind: str) -> str:
    id_ = request.path_params[key]
    if len(id_) > MAX_ID or "\x00" in id_:
        raise errors.not_found(kind, id_)
    return id_


def _check_version(request: Request) -> None:
    if request.path_params.get("version") not in VERSIONS:
        raise errors.FrameworkError(404, None)


def _plural(request: Request) -> str:
    plural = request.path_params["plural"]
    if plural not in A.RESOURCES or plural in ("members", "rules"):
        raise errors.FrameworkError(404, "")
    return plural


class Api:
    def __init__(self, service: LoadBalancerService):
        self.service = service

    async def dispatch(self, request: Request, work, write: bool) -> Response:
        request_id = None
        try:
            _check_version(request)
            ctx = _context(request)
            request_id = ctx.request_id
            ctx.require(write)
            status, body = await work(request, ctx)
            headers = {"x-openstack-request-id": request_id}
            if body is None:
                return Response(status_code=status, headers=headers)
            return JSONResponse(body, status_code=status, headers=headers)
        except errors.ApiError as exc:
            return render(exc, request_id)
        except ClientDisconnect:
            return Response(status_code=400)
        except DataError as exc:
            LOG.warning("value refused by the database: %s", exc.orig)
            return render(errors.BadRequest("Invalid input: a value is not acceptable"),
                          request_id)
        except (StaleDataError, ObjectDeletedError) as exc:  # a concurrent delete won
            LOG.info("write raced a concurrent change: %s", exc)
            return render(errors.Conflict("The request conflicts with a concurrent change; "
                                          "retry it."), request_id)
        except IntegrityError as exc:
            LOG.info("conflicting write refused: %s", exc.orig)
            return render(errors.Conflict("The request conflicts with a concurrent change; "
                                          "retry it."), request_id)
        except OperationalError:
            LOG.exception("database unavailable")
            return render(errors.Unavailable("The database is busy or unavailable; retry."),
                          request_id)
        except Exception:
            LOG.exception("request %s %s failed", request.method, request.url.path)
            return render(errors.ServerError("Internal server error while processing "
                                             "your request."), request_id)

    def route(self, work, write_methods=("POST", "PUT", "DELETE")):
        async def endpoint(request: Request) -> Response:
            return await self.dispatch(request, work, request.method in write_methods)
        return endpoint

    # -- collections and objects ------------------------------------------------------
    async def collection(self, request: Request, ctx: RequestContext):
        plural = _plural(request)
        resource = A.RESOURCES[plural]
        if request.method == "GET":
            return 200, await self._list(request, ctx, plural)
        data = A.parse(resource, await _json(request), create=True)
        if plural == "loadbalancers":
            item = await run_in_threadpool(self.service.create_loadbalancer, ctx, data)
        else:
            item = await run_in_threadpool(self.service.create, ctx, plural, data)
        return 201, {resource.name: item}

    async def _list(self, request: Request, ctx: RequestContext, plural: str,
                    pool_id: str | None = None, l7policy_id: str | None = None) -> dict:
        params = list(request.query_params.multi_items())
        q = query.parse(params, views.FILTERABLE[plural], self.service.settings.max_page_size)
        found = await run_in_threadpool(self.service.list, ctx, plural, q, pool_id,
                                        l7policy_id)
        base = str(request.url.replace(query=""))
        return {plural: [query.select_fields(it, q.fields) for it in found],
                f"{plural}_links": query.links(base, found, q, params)}

    async def item(self, request: Request, ctx: RequestContext):
        plural = _plural(request)
        resource = A.RESOURCES[plural]
        kind = resource.name
        id_ = _id(request, "id", kind)
        if request.method == "GET":
            found = await run_in_threadpool(self.service.show, ctx, plural, id_)
            return 200, {kind: query.select_fields(found, _fields(request))}
        if request.method == "DELETE":
            if plural == "loadbalancers":
                cascade = request.query_params.get("cascade", "").lower() in ("true", "1")
                await run_in_threadpool(self.service.delete_loadbalancer, ctx, id_, cascade)
            else:
                await run_in_threadpool(self.service.delete, ctx, plural, id_)
            return 204, None
        data = A.parse(resource, await _json(request), create=False)
        found = await run_in_threadpool(self.service.update, ctx, plural, id_, data)
        return 200, {kind: found}

    # -- members of a pool ------------------------------------------------------------
    async def members(self, request: Request, ctx: RequestContext):
        pool_id = _id(request, "pool_id", "pool")
        if request.method == "GET":
            return 200, await self._list(request, ctx, "members", pool_id)
        if request.method == "DELETE":
            raise errors.BadRequest('Missing argument: "id"')
        body = await _json(request)
        if request.method == "POST":
            data = A.parse(A.MEMBER, body, create=True)
            return 201, {"member": await run_in_threadpool(
                self.service.create_member, ctx, pool_id, data)}
        if not isinstance(body, dict) or not isinstance(body.get("members"), list):
            raise errors.invalid_input("members_", body, "Mandatory field missing.")
        if len(body["members"]) > 1000:
            raise errors.BadRequest("At most 1000 members may be given at once.")
        items = [A.parse_item(A.MEMBER, item, True, body) for item in body["members"]]
        additive = request.query_params.get("additive_only", "").lower() in ("true", "1")
        await run_in_threadpool(self.service.batch_members, ctx, pool_id, items, additive)
        return 202, None

    async def member(self, request: Request, ctx: RequestContext):
        pool_id = _id(request, "pool_id", "pool")
        member_id = _id(request, "id", "member")
        if request.method == "GET":
            found = await run_in_threadpool(self.service.show_member, ctx, pool_id, member_id)
            return 200, {"member": query.select_fields(found, _fields(request))}
        if request.method == "DELETE":
            await run_in_threadpool(self.service.delete_member, ctx, pool_id, member_id)
            return 204, None
        data = A.parse(A.MEMBER, await _json(request), create=False)
        found = await run_in_threadpool(self.service.update_member, ctx, pool_id, member_id,
                                        data)
        return 200, {"member": found}

    # -- rules of an L7 policy --------------------------------------------------------
    async def rules(self, request: Request, ctx: RequestContext):
        policy_id = _id(request, "l7policy_id", "l7policy")
        if request.method == "GET":
            return 200, await self._list(request, ctx, "rules", l7policy_id=policy_id)
        data = A.parse(A.L7RULE, await _json(request), create=True)
        return 201, {"rule": await run_in_threadpool(
            self.service.create_rule, ctx, policy_id, data)}

    async def rule(self, request: Request, ctx: RequestContext):
        policy_id = _id(request, "l7policy_id", "l7policy")
        rule_id = _id(request, "id", "l7rule")
        if request.method == "GET":
            found = await run_in_threadpool(self.service.show_rule, ctx, policy_id, rule_id)
            return 200, {"rule": query.select_fields(found, _fields(request))}
        if request.method == "DELETE":
            await run_in_threadpool(self.service.delete_rule, ctx, policy_id, rule_id)
            return 204, None
        data = A.parse(A.L7RULE, await _json(request), create=False)
        found = await run_in_threadpool(self.service.update_rule, ctx, policy_id, rule_id,
                                        data)
        return 200, {"rule": found}

    # -- the status tree, and the orchestrator's endpoints (Astara's, admin only) ----
    async def status_tree(self, request: Request, ctx: RequestContext):
        lb_id = _id(request, "id", "loadbalancer")
        return 200, await run_in_threadpool(self.service.status_tree, ctx, lb_id)

    async def lb_model(self, request: Request, ctx: RequestContext):
        if not ctx.is_admin:
            raise errors.Forbidden()
        lb_id = _id(request, "id", "loadbalancer")
        return 200, await run_in_threadpool(self.service.model, ctx, lb_id)

    async def lb_statuses(self, request: Request, ctx: RequestContext):
        if not ctx.is_admin:
            raise errors.Forbidden()
        lb_id = _id(request, "id", "loadbalancer")
        report = statuses.parse(await _json(request))
        await run_in_threadpool(self.service.report_statuses, ctx, lb_id, report)
        return 204, None

    async def vip_ports(self, request: Request, ctx: RequestContext):
        if not ctx.is_admin:
            raise errors.Forbidden()
        return 200, {"vip_ports": await run_in_threadpool(self.service.vip_ports, ctx)}

    async def lb_vip_port(self, request: Request, ctx: RequestContext):
        if not ctx.is_admin:
            raise errors.Forbidden()
        lb_id = _id(request, "id", "loadbalancer")
        await run_in_threadpool(self.service.release_vip_ports, ctx, lb_id)
        return 204, None

    async def lb_stats(self, request: Request, ctx: RequestContext):
        id_ = _id(request, "id", "loadbalancer")
        return 200, await run_in_threadpool(self.service.stats, ctx, "loadbalancers", id_)

    async def listener_stats(self, request: Request, ctx: RequestContext):
        id_ = _id(request, "id", "listener")
        return 200, await run_in_threadpool(self.service.stats, ctx, "listeners", id_)

    async def failover(self, request: Request, ctx: RequestContext):
        lb_id = _id(request, "id", "loadbalancer")
        await run_in_threadpool(self.service.failover, ctx, lb_id)
        return 202, None

    # -- providers, flavors, quotas ---------------------------------------------------
    async def providers(self, request: Request, ctx: RequestContext):
        fields = _fields(request)
        return 200, {"providers": [query.select_fields({"name": n, "description": d}, fields)
                                   for n, d in PROVIDERS.items()]}

    async def flavors(self, request: Request, ctx: RequestContext):
        return 200, {"flavors": [], "flavors_links": []}

    async def flavor(self, request: Request, ctx: RequestContext):
        raise errors.not_found("flavor", request.path_params["id"])

    async def quotas(self, request: Request, ctx: RequestContext):
        return 200, {"quotas": await run_in_threadpool(self.service.list_quotas, ctx),
                     "quotas_links": []}

    async def quota_defaults(self, request: Request, ctx: RequestContext):
        if not ctx.is_admin:
            raise errors.Forbidden()
        return 200, {"quota": self.service.quota_defaults()}

    async def quota(self, request: Request, ctx: RequestContext):
        project_id = _id(request, "project_id", "loadbalancer")
        if request.method == "GET":
            return 200, {"quota": await run_in_threadpool(self.service.quota, ctx,
                                                          project_id)}
        if not ctx.is_admin:
            raise errors.Forbidden()
        if request.method == "DELETE":
            await run_in_threadpool(self.service.set_quota, ctx, project_id, None)
            return 202, None
        values = parse_quota(await _json(request))
        return 202, {"quota": await run_in_threadpool(self.service.set_quota, ctx,
                                                      project_id, values)}


def _fields(request: Request) -> list[str]:
    return [f for v in request.query_params.getlist("fields") for f in v.split(",") if f]


QUOTA_NAMES = {"loadbalancer": "loadbalancer", "load_balancer": "loadbalancer",
               "listener": "listener", "pool": "pool", "member": "member",
               "healthmonitor": "healthmonitor", "health_monitor": "healthmonitor",
               "l7policy": "l7policy", "l7rule": "l7rule"}


def parse_quota(body: Any) -> dict[str, int | None]:
    """A quota PUT body: every limit an integer of -1 or more (null: the default)."""
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise errors.invalid_input("quotas", body, "Mandatory field missing.")
    out: dict[str, int | None] = {}
    for key, value in body["quota"].items():
        name = QUOTA_NAMES.get(key)
        if name is None:
            raise errors.unknown_attribute("quotas.quota", str(key))
        if value is None:
            out[name] = None
            continue
        try:
            number = A.integer(-1, 2**31 - 1)(key, value)
        except A._TypeError as exc:
            raise errors.invalid_input("quotas", body, str(exc)) from None
        out[name] = number
    return out


async def not_found(request: Request, exc: Exception) -> Response:
    return render(errors.FrameworkError(404, ""))


async def not_allowed(request: Request, exc: Exception) -> Response:
    return render(errors.FrameworkError(405, ""))


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return render(errors.FrameworkError(status, errors.shorten(getattr(exc, "detail", ""))))


async def server_error(request: Request, exc: Exception) -> Response:
    LOG.error("request %s %s failed", request.method, request.url.path, exc_info=exc)
    return render(errors.ServerError("Internal server error while processing your request."))


def _guard_error(status: int, message: str) -> dict:
    return errors.FrameworkError(status, message).body()


def refuse_metrics(request: Request) -> Response | None:
    """Only an admin reads ``/metrics``: its counts span every project."""
    ctx = RequestContext.from_headers(request.headers)
    return None if ctx is not None and ctx.is_admin else render(errors.Forbidden())


def build_app(service: LoadBalancerService,
              metrics: metrics_mod.Registries | None = None) -> Starlette:
    """``metrics``: the registries ``/metrics`` serves (new ones by default)."""
    api = Api(service)
    metrics = metrics or metrics_mod.registries()
    http = metrics_mod.HttpMetrics("loadbalancer", metrics.values)
    lbaas = f"/{VERSION}/lbaas"
    read = ()  # routes that only read whatever the method
    routes = [
        Route("/", versions.root, methods=["GET"]),
        Route("/metrics", endpoint(metrics.exposed, refuse_metrics), methods=["GET"]),
        Route("/v2", versions.v2, methods=["GET"]),
        Route("/v2.0", versions.v2, methods=["GET"]),
        Route("/v2/", versions.v2, methods=["GET"]),
        Route("/v2.0/", versions.v2, methods=["GET"]),
        Route(f"{lbaas}/providers", api.route(api.providers, read), methods=["GET"]),
        Route(f"{lbaas}/flavors", api.route(api.flavors, read), methods=["GET"]),
        Route(f"{lbaas}/flavors/{{id}}", api.route(api.flavor, read), methods=["GET"]),
        Route(f"{lbaas}/quotas", api.route(api.quotas, read), methods=["GET"]),
        Route(f"{lbaas}/quotas/defaults", api.route(api.quota_defaults, read),
              methods=["GET"]),
        Route(f"{lbaas}/quotas/{{project_id}}", api.route(api.quota, read),
              methods=["GET", "PUT", "DELETE"]),
        Route(f"{lbaas}/pools/{{pool_id}}/members", api.route(api.members),
              methods=["GET", "POST", "PUT", "DELETE"]),
        Route(f"{lbaas}/pools/{{pool_id}}/members/{{id}}", api.route(api.member),
              methods=["GET", "PUT", "DELETE"]),
        Route(f"{lbaas}/l7policies/{{l7policy_id}}/rules", api.route(api.rules),
              methods=["GET", "POST"]),
        Route(f"{lbaas}/l7policies/{{l7policy_id}}/rules/{{id}}", api.route(api.rule),
              methods=["GET", "PUT", "DELETE"]),
        Route(f"{lbaas}/loadbalancers/{{id}}/status", api.route(api.status_tree, read),
              methods=["GET"]),
        Route(f"{lbaas}/loadbalancers/{{id}}/stats", api.route(api.lb_stats, read),
              methods=["GET"]),
        Route(f"{lbaas}/listeners/{{id}}/stats", api.route(api.listener_stats, read),
              methods=["GET"]),
        Route(f"{lbaas}/loadbalancers/{{id}}/failover", api.route(api.failover),
              methods=["PUT"]),
        Route(f"/{VERSION}/astara/loadbalancers/{{id}}/model", api.route(api.lb_model, read),
              methods=["GET"]),
        Route(f"/{VERSION}/astara/loadbalancers/{{id}}/statuses", api.route(api.lb_statuses),
              methods=["PUT"]),
        Route(f"/{VERSION}/astara/loadbalancers/{{id}}/vip_port", api.route(api.lb_vip_port),
              methods=["DELETE"]),
        Route(f"/{VERSION}/astara/vip_ports", api.route(api.vip_ports, read), methods=["GET"]),
        Route(f"{lbaas}/{{plural}}", api.route(api.collection), methods=["GET", "POST"]),
        Route(f"{lbaas}/{{plural}}/{{id}}", api.route(api.item),
              methods=["GET", "PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes,
                    middleware=[Middleware(RequestMetrics, http=http,
                                           known={"plural": frozenset(A.RESOURCES),
                                                  "version": frozenset(VERSIONS)}),
                                Middleware(Guard, allowed=lambda scope, headers: True,
                                           error=_guard_error, max_body=MAX_BODY,
                                           scheme="noauth")],
                    exception_handlers={404: not_found, 405: not_allowed,
                                        HTTPException: http_error, Exception: server_error})
    app.state.service = service
    app.state.metrics = metrics
    return app
