"""The metadata service's HTTP layer: Nova's metadata API behind a trusted proxy.

A proxy (the orchestrator's, for appliances' instances) names the instance in
``X-Instance-ID`` and signs it in ``X-Instance-ID-Signature`` = hex HMAC-SHA256 of the
id with the shared secret, as Nova's ``service_metadata_proxy`` mode expects. No id:
400; a missing or wrong signature: 403; an unknown or deleted instance, or an
``X-Tenant-ID`` that is not its project: 404. The documents come from the pure
``metadata_content``; the instance is read from the database (read only).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from astara.compute_service import catalog
from astara.compute_service.metadata_content import InstanceData, resolve
from astara.compute_service.models import Instance
from astara.db.engine import Database

LOG = logging.getLogger(__name__)


def sign(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


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


def build_app(db: Database, secret: str) -> Starlette:
    if not secret:
        raise ValueError("the metadata service needs a shared secret")

    async def serve(request: Request) -> Response:
        instance_id = request.headers.get("x-instance-id")
        signature = request.headers.get("x-instance-id-signature")
        if not instance_id:
            return PlainTextResponse("X-Instance-ID header is missing from request.\n", 400)
        if not signature or not hmac.compare_digest(sign(secret, instance_id), signature):
            LOG.warning("metadata request for %s with a bad signature from %s", instance_id,
                        request.client.host if request.client else "?")
            return PlainTextResponse("Invalid proxy request signature.\n", 403)
        inst = await run_in_threadpool(load, db, instance_id)
        tenant = request.headers.get("x-tenant-id")
        if inst is None or (tenant and tenant != inst.project_id):
            return PlainTextResponse("Not Found\n", 404)
        found = resolve(inst, request.url.path, os.urandom(512))
        if found is None:
            return PlainTextResponse("Not Found\n", 404)
        body, media_type = found
        return Response(body, media_type=media_type)

    return Starlette(routes=[Route("/{path:path}", serve, methods=["GET", "HEAD"])])
