"""Metadata proxy, orchestrator side: appliances' forwarded requests -> compute metadata.

An appliance's metadata proxy forwards an instance's request for 169.254.169.254
here, over the management network. What is trusted, and why:

- **The router** comes from the connection's source address only: it must be the
  management address of a router this orchestrator manages (instances have no
  address on the management network): one its workers hold, or else the one whose
  management port on our management network holds that address (``RouterFinder``).
- **The instance's address** comes from the single ``X-Forwarded-For`` the
  appliance's proxy sets: that proxy re-serializes every request, drops every header
  the instance sent and writes the peer address of the instance's connection inside
  the router's namespace. No other header of the request is read (``X-Tenant-ID``,
  ``X-Instance-ID``, ``Forwarded``, ``X-Real-IP``, ``X-Astara-*`` are ignored); zero
  or several ``X-Forwarded-For``, or one that is not one IP address, is a request
  our proxy never sends: 400.
- **The instance and its project** come from the network API's port record: the
  port holding that address on one of the router's internal networks. Its
  ``device_id`` names the instance but is writable by the port's owner, its
  ``project_id`` is not. So the compute metadata API gets ``X-Instance-ID``
  (device_id), ``X-Tenant-ID`` (the port's project), ``X-Astara-Port-ID`` and
  ``X-Forwarded-For``, with ``X-Instance-ID-Signature`` = HMAC-SHA256 of the instance
  id (Nova's scheme, so a real Nova metadata API accepts it too), and refuses unless
  the instance is of that project and its own port records hold that port and
  address: a forged device_id gets a 404.

Resolutions are cached per (router, address) for ``CACHE_SECONDS``. The entry holds
the port id and project with the instance id, and the metadata API checks them
against its live records on every request, so a stale entry can only fail, never
name another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from astara.common.device_owners import INTERFACE
from astara.orchestrator.addresses import same_ip
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.clients.router_model import RouterModel
from astara.orchestrator.drivers import router_ha
from astara.wire.instance_signature import sign

LOG = logging.getLogger(__name__)
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Identity:
    """Who asks: the instance a port names, the port's project, the port, its address."""
    instance_id: str
    project_id: str
    port_id: str
    address: str

    def headers(self, secret: str) -> dict[str, str]:
        return {"X-Instance-ID": self.instance_id, "X-Tenant-ID": self.project_id,
                "X-Instance-ID-Signature": sign(secret, self.instance_id),
                "X-Astara-Port-ID": self.port_id, "X-Forwarded-For": self.address}


def instance_address(values: list[str]) -> str | None:
    """The instance's address from the X-Forwarded-For values, or None unless there is
    exactly one holding exactly one IP address (no list, no zone)."""
    if len(values) != 1:
        return None
    try:
        address = ipaddress.ip_address(values[0].strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return None
    return str(address)


def identify(model: RouterModel, address: str) -> Identity | None:
    """Pure: the port holding `address` on one of the router's internal networks."""
    internal = {p["network_id"] for p in model.ports if p["device_owner"] == INTERFACE}
    for port in model.tenant_ports:
        if port["network_id"] in internal and any(
                same_ip(f["ip_address"], address) for f in port["fixed_ips"]):
            project = port.get("project_id") or port.get("tenant_id") or ""
            if not port.get("device_id") or not project:
                return None
            return Identity(port["device_id"], project, port["id"], address)
    return None


class RouterFinder:
    """A request's source address -> the router whose appliance holds it.

    First the routers this member's workers hold; then the management port holding
    that address on our management network, read from the network API as the service
    (``router_by_management_address``): in a cluster sharing one metadata address the
    compute agent pins an appliance to one member's machine, whoever owns its router.
    That read is made for each request, never cached: a management address freed by a
    deleted appliance is given at once to another router's, and an answer kept would
    sign the first router's instances' metadata for the second's."""

    def __init__(self, held: Callable[[str], str | None], network: HttpNetworkAPI):
        self._held, self._network = held, network

    def find(self, address: str) -> str | None:
        router_id = self._held(address)
        if router_id is not None:
            return router_ha.router_of(router_id)  # an HA pair's member 1 too
        found = self._network.router_by_management_address(address)
        return router_ha.router_of(found) if found is not None else None


class InstanceResolver:
    """(router, instance address) -> Identity, through the network API, cached."""

    def __init__(self, network: HttpNetworkAPI, clock: Callable[[], float] = time.monotonic):
        self._network, self._clock = network, clock
        self._cache: dict[tuple[str, str], tuple[float, Identity | None]] = {}

    def resolve(self, router_id: str, address: str) -> Identity | None:
        key = (router_id, address)
        hit = self._cache.get(key)
        if hit and self._clock() - hit[0] < CACHE_SECONDS:
            return hit[1]
        model = self._network.router_model(router_id)
        found = identify(model, address) if model is not None else None
        self._cache[key] = (self._clock(), found)
        return found


def build_app(routers_by_mgmt: Callable[[str], str | None], resolver: InstanceResolver,
              metadata_url: str, secret: str,
              transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    client = httpx.AsyncClient(base_url=metadata_url.rstrip("/"), timeout=10,
                               transport=transport)

    async def proxy(request: Request) -> Response:
        source = request.client.host if request.client else ""
        try:
            router_id = await asyncio.to_thread(routers_by_mgmt, source)
        except Exception as exc:  # the network API is down: the instance may retry
            LOG.warning("metadata: cannot tell which router %s is: %s", source, exc)
            return Response("Service Unavailable\n", status_code=503)
        if router_id is None:
            LOG.warning("metadata request from %s refused: not a managed appliance", source)
            return Response("Forbidden\n", status_code=403)
        address = instance_address(request.headers.getlist("x-forwarded-for"))
        if address is None:
            LOG.warning("metadata request from router %s refused: not one X-Forwarded-For "
                        "address", router_id)
            return Response("Bad Request\n", status_code=400)
        try:
            identity = await asyncio.to_thread(resolver.resolve, router_id, address)
        except Exception as exc:  # the network API is down: the instance may retry
            LOG.warning("metadata: cannot resolve %s behind router %s: %s", address, router_id,
                        exc)
            return Response("Service Unavailable\n", status_code=503)
        if identity is None:
            return Response("Not Found\n", status_code=404)
        try:
            upstream = await client.get(request.url.path, params=request.query_params,
                                        headers=identity.headers(secret))
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
