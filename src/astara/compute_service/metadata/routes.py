"""The metadata service's HTTP layer: Nova's metadata API behind a trusted proxy.

A proxy (the orchestrator's, for appliances' instances) names the instance in
``X-Instance-ID`` and signs it in ``X-Instance-ID-Signature`` = hex HMAC-SHA256 of the
id with the shared secret, as Nova's ``service_metadata_proxy`` mode expects, and names
the requesting port's project in ``X-Tenant-ID``, the port in ``X-Astara-Port-ID`` and
its address in ``X-Forwarded-For``. The instance id comes from the port's
``device_id``, which the port's owner can write; so the answer also depends on our own
records: the instance must be of that project (Nova's check) and its stored ports
(written by this service when it plugged them) must hold that port with that address.
A missing or repeated id, tenant, port or address header: 400; a missing or wrong
signature: 403; an unknown or deleted instance, another project, or a port or address
that is not the instance's: 404. The documents come from the pure
``content``; the instance is read from the database (read only).
"""

from __future__ import annotations

import ipaddress
import logging
import os

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from astara.common import metrics as metrics_mod
from astara.common.metrics_http import RequestMetrics, endpoint
from astara.compute_service import catalog
from astara.compute_service.metadata.content import InstanceData, resolve
from astara.compute_service.models import Instance
from astara.db.engine import Database
from astara.wire.instance_signature import is_signed

LOG = logging.getLogger(__name__)


def load(db: Database, instance_id: str) -> InstanceData | None:
    with db.read() as s:
        row = s.scalar(select(Instance).where(Instance.id == instance_id,
                                              Instance.deleted.is_(False)))
        if row is None:
            return None
        flavor = catalog.FLAVORS.get(row.flavor_id)
        return InstanceData(
            id=row.id, name=row.name, hostname=row.hostname, project_id=row.project_id,
            availability_zone=row.availability_zone, flavor_name=flavor.name if flavor else "",
            image_id=row.image_id, reservation_id=row.reservation_id, key_name=row.key_name,
            metadata=dict(row.metadata_ or {}), user_data=row.user_data,
            ports=tuple(row.ports or ()))


def holds(inst: InstanceData, port_id: str, address: str) -> bool:
    """Pure: the instance's own port records hold `port_id` with `address`."""
    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        return False
    for port in inst.ports:
        if port.get("port_id") != port_id:
            continue
        for ip in port.get("fixed_ips", ()):
            try:
                if ipaddress.ip_address(ip.get("ip_address", "")) == wanted:
                    return True
            except ValueError:
                continue
    return False


REQUIRED = (("x-instance-id", "X-Instance-ID"), ("x-tenant-id", "X-Tenant-ID"),
            ("x-astara-port-id", "X-Astara-Port-ID"), ("x-forwarded-for", "X-Forwarded-For"))


def missing_or_repeated(request: Request) -> str | None:
    """Nova's 400 messages for a required proxy header that is absent or repeated."""
    for key, name in REQUIRED:
        values = request.headers.getlist(key)
        if not values or not values[0]:
            return f"{name} header is missing from request."
        if len(values) > 1:
            return f"Multiple {name} headers found within request."
    return None


def build_app(db: Database, secret: str) -> Starlette:
    if not secret:
        raise ValueError("the metadata service needs a shared secret")

    async def serve(request: Request) -> Response:
        bad = missing_or_repeated(request)
        if bad:
            return PlainTextResponse(bad + "\n", 400)
        headers = request.headers
        instance_id, tenant = headers["x-instance-id"], headers["x-tenant-id"]
        port_id, address = headers["x-astara-port-id"], headers["x-forwarded-for"].strip()
        signature = headers.get("x-instance-id-signature")
        if not is_signed(secret, instance_id, signature):
            LOG.warning("metadata request for %s with a bad signature from %s", instance_id,
                        request.client.host if request.client else "?")
            return PlainTextResponse("Invalid proxy request signature.\n", 403)
        inst = await run_in_threadpool(load, db, instance_id)
        if inst is None:
            return PlainTextResponse("Not Found\n", 404)
        if tenant != inst.project_id or not holds(inst, port_id, address):
            LOG.warning("metadata request for %s refused: project %s, port %s, address %s "
                        "are not the instance's", instance_id, tenant, port_id, address)
            return PlainTextResponse("Not Found\n", 404)
        found = resolve(inst, request.url.path, os.urandom(512))
        if found is None:
            return PlainTextResponse("Not Found\n", 404)
        body, media_type = found
        return Response(body, media_type=media_type)

    metrics = metrics_mod.registries()
    app = Starlette(routes=[
        Route("/metrics", endpoint(metrics.exposed, refuse_proxied), methods=["GET"]),
        Route("/{path:path}", serve, methods=["GET", "HEAD"])],
        middleware=[Middleware(RequestMetrics, http=metrics_mod.HttpMetrics(
            "compute_metadata", metrics.values))])
    app.state.metrics = metrics
    return app


def refuse_proxied(request: Request) -> Response | None:
    """``/metrics`` answers the operator's scraper, never an instance: whatever the
    proxy forwards carries the instance's headers, and gets what any unknown path gets."""
    if any(key in request.headers for key, _name in REQUIRED):
        return PlainTextResponse("Not Found\n", 404)
    return None
