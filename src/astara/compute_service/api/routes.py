"""HTTP layer of the compute service: Nova v2.1 routes, thin handlers.

Each handler negotiates the microversion, reads the caller from headers, validates
the body with ``bodies``, hands the work to ``ComputeService`` in a worker thread and
renders the result with ``views`` or a Nova fault body. Every ``/v2.1`` answer echoes
the microversion headers and carries a request id (``answer_headers``). Bodies pass
``inbound`` first (size, nesting, encoding); Starlette's own 404/405 are Nova faults too.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from astara.common import metrics as metrics_mod
from astara.common.metrics_http import RequestMetrics, endpoint
from astara.compute_service import catalog
from astara.compute_service.api import (
    actions,
    bodies,
    dead_letters,
    errors,
    external_events,
    glance,
    inbound,
    list_query,
    microversion,
    paging,
    server_groups,
    services,
    views,
)
from astara.compute_service.api.answer_headers import NovaHeaders
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import NetworkError
from astara.compute_service.api.service import ComputeService

LOG = logging.getLogger(__name__)
UPDATED = "2013-07-23T11:33:21Z"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _version_doc(base: str) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": microversion.fmt(microversion.MAX),
            "min_version": microversion.fmt(microversion.MIN), "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{base}/v2.1/"}]}


async def versions(request: Request) -> Response:
    return JSONResponse({"versions": [_version_doc(_base(request))]})


async def version_v21(request: Request) -> Response:
    doc = _version_doc(_base(request))
    doc["links"].append({"rel": "describedby", "type": "text/html",
                         "href": "http://docs.openstack.org/"})
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2.1"}]
    return JSONResponse({"version": doc})


async def _json(request: Request) -> Any:
    return inbound.parse_json(await request.body())


class Api:
    def __init__(self, service: ComputeService):
        self.service = service

    def route(self, work):
        async def endpoint(request: Request) -> Response:
            return await self._dispatch(request, work)
        return endpoint

    async def _dispatch(self, request: Request, work) -> Response:
        ctx = None
        raw_version = microversion.requested(request.headers)
        headers = microversion.headers(raw_version or microversion.MIN)
        try:
            version = microversion.parse(raw_version)
            headers = microversion.headers(version)
            ctx = Context.from_headers(request.headers,
                                       getattr(request.state, "request_id", None))
            if ctx is None:
                raise errors.Unauthorized("The request you have made requires authentication.")
            if ctx.read_only and request.method not in ("GET", "HEAD"):
                raise errors.Forbidden("Policy doesn't allow a reader to change anything.")
            status, body, extra = await work(request, ctx, version)
            headers.update(extra)
            if body is None:
                return Response(status_code=status, headers=headers)
            return JSONResponse(body, status_code=status, headers=headers)
        except errors.ComputeFault as exc:
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        except NetworkError as exc:
            # the network service refused what the caller asked for: the caller's error
            # (a 5xx there is a fault of the network service, reported as Nova's 500)
            fault = errors.Conflict(str(exc)) if exc.status == 409 else \
                errors.BadRequest(str(exc)) if exc.status < 500 else \
                errors.ComputeFault(f"The network service failed: {exc}")
            if fault.status >= 500:
                LOG.error("network service failed on %s %s: %s", request.method,
                          request.url.path, exc)
            return JSONResponse(fault.body(), status_code=fault.status, headers=headers)
        except OperationalError:
            LOG.exception("database unavailable")
            exc = errors.ComputeFault("The database is busy or unavailable; retry.")
            return JSONResponse(exc.body(), status_code=503, headers=headers)
        except Exception:
            LOG.exception("request %s %s failed", request.method, request.url.path)
            exc = errors.ComputeFault("Unexpected API Error. Please report this at "
                                      "http://bugs.launchpad.net/nova/ and attach the Nova "
                                      "API log if possible.")
            return JSONResponse(exc.body(), status_code=500, headers=headers)

    # flavors and images -------------------------------------------------------------
    async def flavors(self, request, ctx, version):
        detail = request.url.path.endswith("/detail")
        return 200, {"flavors": [views.flavor(f, _base(request), detail, version)
                                 for f in catalog.FLAVORS.values()]}, {}

    async def flavor(self, request, ctx, version):
        found = catalog.FLAVORS.get(request.path_params["id"])
        if found is None:
            raise errors.NotFound(f"Flavor {request.path_params['id']} could not be found.")
        return 200, {"flavor": views.flavor(found, _base(request), True, version)}, {}

    async def images(self, request, ctx, version):
        if version >= (2, 36):
            raise errors.NotFound("The resource could not be found.")
        detail = request.url.path.endswith("/detail")
        return 200, {"images": [views.image(i, _base(request), detail)
                                for i in catalog.IMAGES.values()
                                if catalog.bootable(i, ctx.is_admin)]}, {}

    async def image(self, request, ctx, version):
        found = catalog.IMAGES.get(request.path_params["id"])
        if version >= (2, 36) or found is None or not catalog.bootable(found, ctx.is_admin):
            raise errors.NotFound("Image not found.")
        return 200, {"image": views.image(found, _base(request), True)}, {}

    # servers -----------------------------------------------------------------------
    async def servers(self, request, ctx, version):
        if request.method == "POST":
            req = bodies.create(await _json(request), version)
            if not catalog.bootable(req.image, ctx.is_admin):
                raise errors.BadRequest("Can not find requested image")
            row, password = await run_in_threadpool(self.service.create, ctx, req)
            base = _base(request)
            body = {"id": row.id, "links": views.server_ref(row, base)["links"],
                    "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}]}
            if password:
                body["adminPass"] = password
            location = f"{base}/v2.1/servers/{row.id}"
            return 202, {"server": body}, {"Location": location}
        filters = inbound.query(request.query_params.multi_items())
        detail = request.url.path.endswith("/detail")
        rows = await run_in_threadpool(self.service.list, ctx, filters, detail)
        base = _base(request)
        if detail:
            items = [views.server(r, base, version, ctx.is_admin, listed=True) for r in rows]
        else:
            items = [views.server_ref(r, base) for r in rows]
        body: dict[str, Any] = {"servers": items}
        limit = list_query.parse(filters, ctx.is_admin, detail).limit if "limit" in filters \
            else None
        more = paging.next_query(filters, rows, limit)
        if more:
            body["servers_links"] = [{"rel": "next", "href": f"{base}{request.url.path}?{more}"}]
        return 200, body, {}

    async def server(self, request, ctx, version):
        sid = request.path_params["id"]
        if request.method == "DELETE":
            await run_in_threadpool(self.service.delete, ctx, sid)
            return 204, None, {}
        if request.method == "PUT":
            data = bodies.update(await _json(request), version)
            row = await run_in_threadpool(self.service.update, ctx, sid, data)
        else:
            row = await run_in_threadpool(self.service.show, ctx, sid)
        view = views.server(row, _base(request), version, ctx.is_admin)
        if "server_groups" in view:  # 2.71: the group it was booted into
            view["server_groups"] = await run_in_threadpool(self.service.groups.groups_of, row.id)
        return 200, {"server": view}, {}

    async def action(self, request, ctx, version):
        name, arg = bodies.action(await _json(request))
        out = await run_in_threadpool(self.service.action, ctx, request.path_params["id"],
                                      name, arg)
        return (200, out, {}) if out is not None else (202, None, {})

    async def ips(self, request, ctx, version):
        row = await run_in_threadpool(self.service.show, ctx, request.path_params["id"])
        return 200, {"addresses": views.addresses(row.ports, with_ext=False)}, {}

    async def metadata(self, request, ctx, version):
        sid = request.path_params["id"]
        if request.method == "GET":
            row = await run_in_threadpool(self.service.show, ctx, sid)
            return 200, {"metadata": dict(row.metadata_ or {})}, {}
        items = bodies.metadata_body(await _json(request))
        meta = await run_in_threadpool(self.service.set_metadata, ctx, sid, items,
                                       request.method == "PUT")
        return 200, {"metadata": meta}, {}

    async def metadata_item(self, request, ctx, version):
        sid, key = request.path_params["id"], request.path_params["key"]
        if request.method == "GET":
            row = await run_in_threadpool(self.service.show, ctx, sid)
            if key not in (row.metadata_ or {}):
                raise errors.NotFound("Metadata item was not found")
            return 200, {"meta": {key: row.metadata_[key]}}, {}
        if request.method == "DELETE":
            await run_in_threadpool(self.service.set_metadata, ctx, sid, {}, False, key)
            return 204, None, {}
        items = bodies.metadata_body(await _json(request), "meta")
        if list(items) != [key]:
            raise errors.BadRequest("Request body and URI mismatch")
        await run_in_threadpool(self.service.set_metadata, ctx, sid, items)
        return 200, {"meta": items}, {}

    async def instance_actions(self, request, ctx, version):
        jobs = await run_in_threadpool(self.service.actions, ctx, request.path_params["id"],
                                       version >= (2, 21))
        return 200, {"instanceActions": [actions.action(j, version) for j in jobs]}, {}

    async def instance_action(self, request, ctx, version):
        wanted = request.path_params["request_id"]
        jobs = await run_in_threadpool(self.service.actions, ctx, request.path_params["id"],
                                       version >= (2, 21))
        found = next((j for j in jobs if actions.request_id(j) == wanted), None)
        if found is None:
            raise errors.NotFound(f"Action {errors.shown(wanted)} not found")
        return 200, {"instanceAction": actions.detail(found, version, ctx.is_admin)}, {}

    async def interfaces(self, request, ctx, version):
        sid = request.path_params["id"]
        if request.method == "POST":
            want = bodies.interface(await _json(request), version)
            port = await run_in_threadpool(self.service.attach, ctx, sid, want)
            return 200, {"interfaceAttachment": views.interface(port, version)}, {}
        row = await run_in_threadpool(self.service.show, ctx, sid)
        return 200, {"interfaceAttachments": [views.interface(p, version)
                                              for p in row.ports]}, {}

    async def interface(self, request, ctx, version):
        sid, port_id = request.path_params["id"], request.path_params["port_id"]
        if request.method == "DELETE":
            await run_in_threadpool(self.service.detach, ctx, sid, port_id)
            return 202, None, {}
        row = await run_in_threadpool(self.service.show, ctx, sid)
        port = next((p for p in row.ports if p["port_id"] == port_id), None)
        if port is None:
            raise errors.NotFound("Network interface not found")
        return 200, {"interfaceAttachment": views.interface(port, version)}, {}

    # server groups (os-server-groups) ------------------------------------------------
    async def server_groups(self, request, ctx, version):
        if request.method == "POST":
            req = server_groups.parse_create(await _json(request), version)
            row, members = await run_in_threadpool(self.service.groups.create, ctx, req)
            return 200, {"server_group": server_groups.view(row, members, version)}, {}
        every = request.query_params.get("all_projects", "").lower() in ("1", "true", "yes")
        found = await run_in_threadpool(self.service.groups.list, ctx, every)
        return 200, {"server_groups": [server_groups.view(r, m, version)
                                       for r, m in found]}, {}

    async def server_group(self, request, ctx, version):
        gid = request.path_params["id"]
        if request.method == "DELETE":
            await run_in_threadpool(self.service.groups.delete, ctx, gid)
            return 204, None, {}
        row, members = await run_in_threadpool(self.service.groups.show, ctx, gid)
        return 200, {"server_group": server_groups.view(row, members, version)}, {}

    # hosts (Nova's os-services subset) ----------------------------------------------
    async def os_services(self, request, ctx, version):
        hosts = await run_in_threadpool(self.service.hosts, ctx)
        return 200, {"services": [services.view(h) for h in hosts]}, {}

    async def os_service(self, request, ctx, version):
        drained = services.parse_update(await _json(request))
        host = await run_in_threadpool(self.service.set_drained, ctx,
                                       request.path_params["id"], drained)
        return 200, {"service": services.view(host)}, {}

    # dead letters (an Astara extension, admin only) ---------------------------------
    async def dead_letters(self, request, ctx, version):
        dead_letters.require_admin(ctx)  # before any input: a member learns nothing
        limit, marker = dead_letters.parse_query(request.query_params)
        found = await run_in_threadpool(self.service.dead_letters, ctx, limit, marker)
        return 200, {"dead_letters": found}, {}

    async def dead_letter(self, request, ctx, version):
        dead_letters.require_admin(ctx)
        dead_id = dead_letters.parse_id(request.path_params["id"])
        return 200, {"dead_letter": await run_in_threadpool(
            self.service.dead_letter, ctx, dead_id)}, {}

    async def dead_letter_action(self, request, ctx, version):
        dead_letters.require_admin(ctx)
        dead_id = dead_letters.parse_id(request.path_params["id"])
        dead_letters.parse_action(await _json(request))
        return 200, {"retry": await run_in_threadpool(
            self.service.retry_dead_letter, ctx, dead_id)}, {}

    # events from other services -------------------------------------------------------
    async def server_external_events(self, request, ctx, version):
        events = external_events.parse(await _json(request), version)
        if not external_events.allowed(ctx.roles):  # after the body, as Nova checks
            raise external_events.forbidden()
        outcome = await run_in_threadpool(self.service.external_events, ctx, events)
        if outcome.status == 404:
            raise errors.NotFound(external_events.NONE_FOUND)
        return outcome.status, {"events": outcome.events}, {}


async def not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse(errors.NotFound("The resource could not be found.").body(),
                        status_code=404)


async def not_allowed(request: Request, exc: Exception) -> Response:
    fault = errors.BadMethod("The method is not allowed for the requested URL.")
    return JSONResponse(fault.body(), status_code=405)


def refuse_metrics(request: Request) -> Response | None:
    """Only an admin reads ``/metrics``: its counts span every project."""
    try:
        ctx = Context.from_headers(request.headers)
    except errors.ComputeFault as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    if ctx is None:
        fault = errors.Unauthorized("The request you have made requires authentication.")
        return JSONResponse(fault.body(), status_code=fault.status)
    if not ctx.is_admin:
        fault = errors.Forbidden("Policy doesn't allow metrics to be read.")
        return JSONResponse(fault.body(), status_code=fault.status)
    return None


def auth_fault(status: int, message: str) -> Response:
    """A request auth_token refused (401; 503: Keystone unreachable), in Nova's body."""
    fault = errors.Unauthorized(message) if status == 401 else errors.ServiceUnavailable(message)
    fault.status = status
    return JSONResponse(fault.body(), status_code=status)


def build_app(service: ComputeService, metrics: metrics_mod.Registries | None = None
              ) -> Starlette:
    """``metrics``: the registries ``/metrics`` serves (new ones by default)."""
    api = Api(service)
    r = api.route
    metrics = metrics or metrics_mod.registries()
    http = metrics_mod.HttpMetrics("compute", metrics.values)
    routes = [
        Route("/", versions, methods=["GET"]),
        Route("/metrics", endpoint(metrics.exposed, refuse_metrics), methods=["GET"]),
        Route("/v2.1", version_v21, methods=["GET"]),
        Route("/v2.1/", version_v21, methods=["GET"]),
        Route("/v2.1/flavors", r(api.flavors), methods=["GET"]),
        Route("/v2.1/flavors/detail", r(api.flavors), methods=["GET"]),
        Route("/v2.1/flavors/{id}", r(api.flavor), methods=["GET"]),
        Route("/v2.1/images", r(api.images), methods=["GET"]),
        Route("/v2.1/images/detail", r(api.images), methods=["GET"]),
        Route("/v2.1/images/{id}", r(api.image), methods=["GET"]),
        Route("/v2.1/servers", r(api.servers), methods=["GET", "POST"]),
        Route("/v2.1/servers/detail", r(api.servers), methods=["GET"]),
        Route("/v2.1/servers/{id}", r(api.server), methods=["GET", "PUT", "DELETE"]),
        Route("/v2.1/servers/{id}/action", r(api.action), methods=["POST"]),
        Route("/v2.1/servers/{id}/ips", r(api.ips), methods=["GET"]),
        Route("/v2.1/servers/{id}/metadata", r(api.metadata), methods=["GET", "PUT", "POST"]),
        Route("/v2.1/servers/{id}/metadata/{key}", r(api.metadata_item),
              methods=["GET", "PUT", "DELETE"]),
        Route("/v2.1/servers/{id}/os-instance-actions", r(api.instance_actions),
              methods=["GET"]),
        Route("/v2.1/servers/{id}/os-instance-actions/{request_id}", r(api.instance_action),
              methods=["GET"]),
        Route("/v2.1/servers/{id}/os-interface", r(api.interfaces), methods=["GET", "POST"]),
        Route("/v2.1/servers/{id}/os-interface/{port_id}", r(api.interface),
              methods=["GET", "DELETE"]),
        Route("/v2.1/os-server-groups", r(api.server_groups), methods=["GET", "POST"]),
        Route("/v2.1/os-server-groups/{id}", r(api.server_group), methods=["GET", "DELETE"]),
        Route("/v2.1/os-services", r(api.os_services), methods=["GET"]),
        Route("/v2.1/os-services/{id}", r(api.os_service), methods=["PUT"]),
        Route("/v2.1/os-astara-dead-letters", r(api.dead_letters), methods=["GET"]),
        Route("/v2.1/os-astara-dead-letters/{id}", r(api.dead_letter), methods=["GET"]),
        Route("/v2.1/os-astara-dead-letters/{id}/action", r(api.dead_letter_action),
              methods=["POST"]),
        Route("/v2.1/os-server-external-events", r(api.server_external_events), methods=["POST"]),
        *glance.routes(),  # the image service's (Glance v2) read-only view, /image
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed},
                    middleware=[Middleware(RequestMetrics, http=http), Middleware(NovaHeaders),
                                Middleware(inbound.SizeLimit)])
    app.state.service = service
    app.state.metrics = metrics
    return app
