"""The appliance REST API (v1), one Starlette app for every appliance of the agent.

Thin handlers: find the appliance the connection arrived for (`host` puts it in
the ASGI scope), validate, run the blocking work in a thread, answer. A PUT takes
the appliance's lock, so applies are serialized; reads never wait for an apply
and see the last applied config. Invalid or unknown-version documents, and
documents that do not fit the appliance (a missing interface), get 422.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from astara.appliance import status as status_mod
from astara.appliance.converge import Appliance
from astara.wire import DocumentError, parse_config

SCOPE_KEY = "astara.appliance"


@dataclass
class Served:
    appliance: Appliance
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _served(request: Request) -> Served:
    return request.scope[SCOPE_KEY]


async def get_status(request: Request) -> Response:
    s = _served(request)
    doc = await asyncio.to_thread(status_mod.status, s.appliance)
    return JSONResponse(doc.model_dump(mode="json"))


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
    return JSONResponse(config.model_dump(mode="json"))


async def put_config(request: Request) -> Response:
    s = _served(request)
    try:
        config = parse_config(await request.json())
    except ValueError as exc:  # DocumentError, or a body that is not JSON
        errors = exc.errors if isinstance(exc, DocumentError) else []
        return JSONResponse({"error": str(exc), "details": errors}, status_code=422)
    async with s.lock:
        result = await asyncio.to_thread(s.appliance.apply, config)
    body = {
        "changed": result.changed,
        "digest": s.appliance.digest,
        "nft": result.nft,
        "dhcp": result.dhcp,
        "netlink_ops": len(result.ops),
    }
    if result.error is not None:
        body["error"] = result.error
        return JSONResponse(body, status_code=422 if result.rejected else 500)
    return JSONResponse(body)


def make_app() -> Starlette:
    return Starlette(routes=[
        Route("/v1/status/", get_status),
        Route("/v1/firewall/rules/", get_rules),
        Route("/v1/system/interfaces/", get_interfaces),
        Route("/v1/system/interface/{ifname}/", get_interface),
        Route("/v1/system/stats/", get_stats),
        Route("/v1/system/config/", get_config, methods=["GET"]),
        Route("/v1/system/config/", put_config, methods=["PUT"]),
    ])
