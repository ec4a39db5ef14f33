"""The routers with an interface on a network, for the orchestrator (admin only).

``GET /v2.0/networks/{id}/astara_routers`` answers ``{"routers": [{"id",
"project_id"}]}`` from the router-port association, never from ports'
``device_owner``/``device_id`` labels, which a network's owner may write: a
member's port labelled as a router interface names no router here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from astara.network_service import errors
from astara.network_service import models as m
from astara.network_service.context import RequestContext
from astara.network_service.port_policy import INTERFACE
from astara.network_service.resources.base import get_network


def routers_on(s: Session, ctx: RequestContext, network_id: str) -> dict:
    if not ctx.is_admin:
        raise errors.PolicyNotAuthorized(action="get_network:astara_routers")
    get_network(s, ctx, network_id)
    rows = s.execute(
        select(m.Router.id, m.Router.project_id).distinct()
        .join(m.RouterPort, m.RouterPort.router_id == m.Router.id)
        .join(m.Port, m.Port.id == m.RouterPort.port_id)
        .where(m.RouterPort.port_type == INTERFACE, m.Port.network_id == network_id)
        .order_by(m.Router.id)).all()
    return {"routers": [{"id": rid, "project_id": project} for rid, project in rows]}


def endpoint(api):
    """The route's handler, run through ``api.dispatch`` like every other route."""
    from astara.network_service.api import _id

    async def work(request: Request, ctx: RequestContext):
        def read() -> dict:
            with api.service.db.read() as s:
                return routers_on(s, ctx, network_id)

        network_id = _id(request, "networks")
        return 200, await run_in_threadpool(read)

    async def handle(request: Request):
        return await api.dispatch(request, work)

    return handle
