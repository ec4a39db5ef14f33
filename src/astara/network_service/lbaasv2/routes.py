"""The ``/v2.0/lbaas/...`` routes of the network API: Neutron's envelope around the
load-balancer service.

Each handler runs inside the network API's ``dispatch`` (identity, ``NeutronError``
bodies, database errors), turns the body into the service's values (``bodies``),
calls the same ``LoadBalancerService`` methods the Octavia API calls, as the same
caller, and renders neutron-lbaas's views. Neutron's policy: an admin sees and
changes everything, anyone else its own project's objects (whatever its role), and
another project's object is not found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from astara.loadbalancer_service import errors as octavia
from astara.loadbalancer_service import query as lbquery
from astara.loadbalancer_service.context import RequestContext as LbContext
from astara.loadbalancer_service.service import LoadBalancerService
from astara.network_service import errors
from astara.network_service import query as nquery
from astara.network_service.api import _json
from astara.network_service.context import RequestContext
from astara.network_service.lbaasv2 import bodies, faults, lists, views

PLURALS = ("loadbalancers", "listeners", "pools", "healthmonitors")
KIND = {"loadbalancers": "loadbalancer", "listeners": "listener", "pools": "pool",
        "members": "member", "healthmonitors": "healthmonitor"}
MAX_ID = 255


def lb_context(ctx: RequestContext, write: str | None = None) -> LbContext:
    """The service's caller: any role of a project writes its own objects, as on the
    rest of the network API, except a caller who is only a ``reader``, who only reads
    (as on the Octavia API and in Neutron's current defaults): ``write`` names the
    action refused to it."""
    roles = tuple(r.lower() for r in ctx.roles if r.lower() != "admin")
    if ctx.is_admin:
        roles = (*roles, "admin")
    elif not (set(roles) <= {"reader"} and roles):
        roles = (*roles, "member")
    caller = LbContext(project_id=ctx.project_id, user_id=ctx.user_id[:255],
                       roles=tuple(dict.fromkeys(roles)), request_id=ctx.request_id)
    if write is not None and not caller.can_write:
        raise errors.PolicyNotAuthorized(action=write)
    return caller


def _action(method: str, kind: str) -> str | None:
    """The write a request is (None: a read)."""
    if method == "GET":
        return None
    return f"{ {'POST': 'create', 'DELETE': 'delete'}.get(method, 'update')}_{kind}"


def _plural(request: Request) -> str:
    plural = request.path_params["plural"]
    if plural not in PLURALS:
        raise errors.ResourceNotFound(type_="HTTPNotFound")
    return plural


def _id(request: Request, key: str, plural: str) -> str:
    id_ = request.path_params[key]
    if len(id_) > MAX_ID or "\x00" in id_:
        raise faults.not_found(faults.BY_KIND[KIND[plural]], id_)
    return id_


class Lbaas:
    def __init__(self, service: LoadBalancerService):
        self.service = service

    async def call(self, fn: Callable, *args, path: tuple[str, str] | None = None) -> Any:
        """``fn(*args)`` in a worker thread, its errors as Neutron's."""
        try:
            return await run_in_threadpool(fn, *args)
        except octavia.ApiError as exc:
            raise faults.neutron(exc, path) from None
        except (StaleDataError, ObjectDeletedError):  # a concurrent delete won
            raise errors.Conflict(message="The request conflicts with a concurrent change; "
                                  "retry it.", type_="Conflict") from None

    # -- collections ----------------------------------------------------------------
    async def collection(self, request: Request, ctx: RequestContext):
        plural = _plural(request)
        if request.method == "GET":
            return 200, await self._list(request, ctx, plural)
        data = bodies.parse(plural, await _json(request), ctx, create=True)
        if plural == "loadbalancers":
            item = await self.call(self.service.create_loadbalancer,
                                   lb_context(ctx, "create_loadbalancer"), data)
        else:
            item = await self.call(self.service.create,
                                   lb_context(ctx, f"create_{KIND[plural]}"), plural, data)
        return 201, {KIND[plural]: views.view(plural, item)}

    async def _list(self, request: Request, ctx: RequestContext, plural: str,
                    pool_id: str | None = None) -> dict:
        params = list(request.query_params.multi_items())
        want = lists.parse(plural, params, self.service.settings.max_page_size)
        q = lbquery.ListQuery(filters=want.hidden)
        found = await self.call(self.service.list, lb_context(ctx), plural, q, pool_id,
                                path=("pool", pool_id) if pool_id else None)
        items = [v for v in (views.view(plural, it) for it in found)
                 if lists.matches(v, want.filters)]
        page, _ = nquery.page(items, want.page)
        body: dict[str, Any] = {plural: [nquery.select_fields(it, want.page.fields)
                                         for it in page]}
        links = nquery.links(str(request.url.replace(query="")), page, want.page, params)
        if links:
            body[f"{plural}_links"] = links
        return body

    # -- one object -------------------------------------------------------------------
    async def item(self, request: Request, ctx: RequestContext):
        plural = _plural(request)
        kind = KIND[plural]
        id_ = _id(request, "id", plural)
        path = (kind, id_)
        caller = lb_context(ctx, _action(request.method, kind))
        if request.method == "GET":
            found = await self.call(self.service.show, caller, plural, id_, path=path)
            return 200, {kind: nquery.select_fields(views.view(plural, found),
                                                    _fields(request))}
        if request.method == "DELETE":
            if plural == "loadbalancers":
                await self.call(self.service.delete_loadbalancer, caller, id_, False,
                                path=path)
            else:
                await self.call(self.service.delete, caller, plural, id_, path=path)
            return 204, None
        data = bodies.parse(plural, await _json(request), ctx, create=False)
        found = await self.call(self.service.update, caller, plural, id_, data, path=path)
        return 200, {kind: views.view(plural, found)}

    async def statuses(self, request: Request, ctx: RequestContext):
        lb_id = _id(request, "id", "loadbalancers")
        model = await self.call(self.service.snapshot, lb_context(ctx), lb_id,
                                path=("loadbalancer", lb_id))
        return 200, views.status_tree(model)

    # -- members of a pool --------------------------------------------------------------
    async def members(self, request: Request, ctx: RequestContext):
        pool_id = _id(request, "pool_id", "pools")
        path = ("pool", pool_id)
        if request.method == "GET":
            return 200, await self._list(request, ctx, "members", pool_id)
        data = bodies.parse("members", await _json(request), ctx, create=True)
        found = await self.call(self.service.create_member,
                                lb_context(ctx, "create_member"), pool_id, data, path=path)
        return 201, {"member": views.view("members", found)}

    async def member(self, request: Request, ctx: RequestContext):
        pool_id = _id(request, "pool_id", "pools")
        member_id = _id(request, "id", "members")
        path = ("pool", pool_id)
        caller = lb_context(ctx, _action(request.method, "member"))
        if request.method == "GET":
            found = await self.call(self.service.show_member, caller, pool_id, member_id,
                                    path=path)
            return 200, {"member": nquery.select_fields(views.view("members", found),
                                                        _fields(request))}
        if request.method == "DELETE":
            await self.call(self.service.delete_member, caller, pool_id, member_id, path=path)
            return 204, None
        data = bodies.parse("members", await _json(request), ctx, create=False)
        found = await self.call(self.service.update_member, caller, pool_id, member_id, data,
                                path=path)
        return 200, {"member": views.view("members", found)}


def _fields(request: Request) -> list[str]:
    return [f for v in request.query_params.getlist("fields") for f in v.split(",") if f]


def routes(dispatch: Callable, service: LoadBalancerService) -> list[Route]:
    """The routes, each answered through the network API's ``dispatch``."""
    lbaas = Lbaas(service)

    def endpoint(work):
        async def handle(request: Request):
            return await dispatch(request, work)
        return handle

    base = "/v2.0/lbaas"
    return [
        Route(f"{base}/loadbalancers/{{id}}/statuses", endpoint(lbaas.statuses),
              methods=["GET"]),
        Route(f"{base}/pools/{{pool_id}}/members", endpoint(lbaas.members),
              methods=["GET", "POST"]),
        Route(f"{base}/pools/{{pool_id}}/members/{{id}}", endpoint(lbaas.member),
              methods=["GET", "PUT", "DELETE"]),
        Route(f"{base}/{{plural}}", endpoint(lbaas.collection), methods=["GET", "POST"]),
        Route(f"{base}/{{plural}}/{{id}}", endpoint(lbaas.item),
              methods=["GET", "PUT", "DELETE"]),
    ]
