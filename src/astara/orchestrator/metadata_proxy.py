"""Metadata proxy, orchestrator side: appliances' forwarded requests -> compute metadata.

An appliance redirects an instance's request for 169.254.169.254 to this proxy
on the management network, naming the instance's address in ``X-Forwarded-For``.
The proxy trusts only the connection's source: it must be the management address
of a router it manages; the instance is the port with that address on one of
that router's internal networks. The request then goes to the compute service's
metadata API with ``X-Instance-ID`` signed by HMAC-SHA256 (the shared secret),
as Nova's metadata API expects from its proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.drivers.router import INTERFACE

LOG = logging.getLogger(__name__)
CACHE_SECONDS = 60.0


def sign(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


class InstanceResolver:
    """(router, instance address) -> instance id, through the network API, cached."""

    def __init__(self, network: HttpNetworkAPI, clock: Callable[[], float] = time.monotonic):
        self._network, self._clock = network, clock
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    def resolve(self, router_id: str, address: str) -> str | None:
        key = (router_id, address)
        hit = self._cache.get(key)
        if hit and self._clock() - hit[0] < CACHE_SECONDS:
            return hit[1]
        model = self._network.router_model(router_id)
        found = None
        if model is not None:
            internal = {p["network_id"] for p in model.ports if p["device_owner"] == INTERFACE}
            for port in model.tenant_ports:
                if port["network_id"] in internal and any(
                        f["ip_address"] == address for f in port["fixed_ips"]):
                    found = port["device_id"] or None
                    break
        self._cache[key] = (self._clock(), found)
        return found


def build_app(routers_by_mgmt: Callable[[str], str | None], resolver: InstanceResolver,
              metadata_url: str, secret: str,
              transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    client = httpx.AsyncClient(base_url=metadata_url.rstrip("/"), timeout=10,
                               transport=transport)

    async def proxy(request: Request) -> Response:
        source = request.client.host if request.client else ""
        router_id = routers_by_mgmt(source)
        if router_id is None:
            LOG.warning("metadata request from %s refused: not a managed appliance", source)
            return Response("Forbidden\n", status_code=403)
        address = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        try:
            instance = await asyncio.to_thread(resolver.resolve, router_id, address)
        except Exception as exc:  # the network API is down: the instance may retry
            LOG.warning("metadata: cannot resolve %s behind router %s: %s", address, router_id,
                        exc)
            return Response("Service Unavailable\n", status_code=503)
        if instance is None:
            return Response("Not Found\n", status_code=404)
        headers = {"X-Instance-ID": instance, "X-Instance-ID-Signature": sign(secret, instance),
                   "X-Forwarded-For": address}
        try:
            upstream = await client.get(request.url.path, params=request.query_params,
                                        headers=headers)
        except httpx.TransportError as exc:
            LOG.warning("metadata service unreachable: %s", exc)
            return Response("Bad Gateway\n", status_code=502)
        return Response(upstream.content, status_code=upstream.status_code,
                        media_type=upstream.headers.get("content-type"))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await client.aclose()

    return Starlette(routes=[Route("/{path:path}", proxy, methods=["GET"])], lifespan=lifespan)
