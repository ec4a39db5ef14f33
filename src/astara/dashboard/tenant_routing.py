"""A tenant's routers, floating IPs, load balancers, topology and live status.

Same rules as ``tenant``: the session's identity, the session's project only.
"""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse, Response

from astara.dashboard import topology, views
from astara.dashboard.clients import ApiError, seg
from astara.dashboard.tenant import (
    ROUTER_OWNERS,
    _external,
    _external_networks,
    _loadbalancers,
    _mine,
    _net,
    _own,
    _servers,
)
from astara.dashboard.web import Ctx, redirect


async def _router(ctx: Ctx, rid: str) -> dict:
    got = await ctx.apis.get("network", f"/routers/{seg(rid)}", ctx.who)
    return _mine(ctx, (got or {}).get("router"), "router", rid)


async def routers(ctx: Ctx) -> Response:
    rs, ext = await asyncio.gather(_net(ctx, "/routers", "routers"), _external_networks(ctx))
    return ctx.render("routers.html", routers=[views.router_row(r) for r in rs],
                      externals=ext)


async def router_create(ctx: Ctx) -> Response:
    body: dict = {"name": ctx.field("name").strip()}
    if ctx.field("ha") == "on":
        body["ha"] = True
    if ctx.field("gateway"):
        await _external(ctx, ctx.field("gateway"))
        body["external_gateway_info"] = {"network_id": ctx.field("gateway")}
    got = await ctx.apis.post("network", "/routers", ctx.who, {"router": body})
    rid = (got or {}).get("router", {}).get("id")
    return redirect(ctx.state, f"/routers/{rid}" if rid else "/routers", "Router created.")


async def router(ctx: Ctx) -> Response:
    rid = ctx.path("id")
    r = await _router(ctx, rid)
    ports, subnets, ext = await asyncio.gather(
        _net(ctx, "/ports", "ports", device_id=rid), _net(ctx, "/subnets", "subnets"),
        _external_networks(ctx))
    interfaces = [p for p in ports if p.get("device_owner") in ROUTER_OWNERS[:3]]
    return ctx.render("router.html", r=views.router_row(r, interfaces), subnets=subnets,
                      externals=ext)


async def router_interface(ctx: Ctx) -> Response:
    rid = ctx.path("id")
    await _router(ctx, rid)
    verb = "remove_router_interface" if ctx.field("op") == "remove" else \
        "add_router_interface"
    await _own(ctx, "subnets", "subnet", ctx.field("subnet_id"))
    await ctx.apis.put("network", f"/routers/{seg(rid)}/{verb}", ctx.who,
                       {"subnet_id": ctx.field("subnet_id")})
    return redirect(ctx.state, f"/routers/{rid}", "Interface " + (
        "removed." if verb.startswith("remove") else "added."))


async def router_gateway(ctx: Ctx) -> Response:
    rid = ctx.path("id")
    await _router(ctx, rid)
    net = ctx.field("network_id")
    if net:
        await _external(ctx, net)
    await ctx.apis.put("network", f"/routers/{seg(rid)}", ctx.who, {"router": {
        "external_gateway_info": {"network_id": net} if net else {}}})
    return redirect(ctx.state, f"/routers/{rid}", "Gateway set." if net else
                    "Gateway cleared.")


async def router_route(ctx: Ctx) -> Response:
    rid = ctx.path("id")
    r = await _router(ctx, rid)
    route = views.parse_route(ctx.field("destination"), ctx.field("nexthop"))
    if route is None:
        raise ApiError(400, "A route needs a destination CIDR and a next hop.")
    routes = views.routes_with(r.get("routes") or [], route, ctx.field("op") != "remove")
    await ctx.apis.put("network", f"/routers/{seg(rid)}", ctx.who,
                       {"router": {"routes": routes}})
    return redirect(ctx.state, f"/routers/{rid}", "Routes saved.")


async def router_delete(ctx: Ctx) -> Response:
    rid = ctx.path("id")
    await _router(ctx, rid)
    await ctx.apis.delete("network", f"/routers/{seg(rid)}", ctx.who)
    return redirect(ctx.state, "/routers", "Router deleted.")


# floating IPs ---------------------------------------------------------------------------
async def floatingips(ctx: Ctx) -> Response:
    fips, ext, ports = await asyncio.gather(_net(ctx, "/floatingips", "floatingips"),
                                            _external_networks(ctx),
                                            _net(ctx, "/ports", "ports"))
    targets = [p for p in ports if (p.get("device_owner") or "").startswith("compute:")]
    return ctx.render("floatingips.html", fips=fips, externals=ext, targets=targets)


async def floatingip_create(ctx: Ctx) -> Response:
    await _external(ctx, ctx.field("network_id"))
    await ctx.apis.post("network", "/floatingips", ctx.who, {"floatingip": {
        "floating_network_id": ctx.field("network_id")}})
    return redirect(ctx.state, "/floatingips", "Floating IP allocated.")


async def _fip(ctx: Ctx, fid: str) -> dict:
    got = await ctx.apis.get("network", f"/floatingips/{seg(fid)}", ctx.who)
    return _mine(ctx, (got or {}).get("floatingip"), "floating IP", fid)


async def floatingip_associate(ctx: Ctx) -> Response:
    fid = ctx.path("id")
    await _fip(ctx, fid)
    port = ctx.field("port_id") or None
    if port:
        await _own(ctx, "ports", "port", port)
    await ctx.apis.put("network", f"/floatingips/{seg(fid)}", ctx.who,
                       {"floatingip": {"port_id": port}})
    return redirect(ctx.state, "/floatingips", "Associated." if port else "Disassociated.")


async def floatingip_delete(ctx: Ctx) -> Response:
    fid = ctx.path("id")
    await _fip(ctx, fid)
    await ctx.apis.delete("network", f"/floatingips/{seg(fid)}", ctx.who)
    return redirect(ctx.state, "/floatingips", "Floating IP released.")


# load balancers -------------------------------------------------------------------------
async def loadbalancers(ctx: Ctx) -> Response:
    (lbs, error), subnets = await asyncio.gather(_loadbalancers(ctx),
                                                 _net(ctx, "/subnets", "subnets"))
    rows = [{**lb, **views.status_of("loadbalancer", lb)} for lb in lbs]
    return ctx.render("loadbalancers.html", lbs=rows, subnets=subnets, lb_error=error)


async def loadbalancer_create(ctx: Ctx) -> Response:
    await _own(ctx, "subnets", "subnet", ctx.field("subnet_id"))
    await ctx.apis.post("loadbalancer", "/lbaas/loadbalancers", ctx.who, {"loadbalancer": {
        "name": ctx.field("name").strip(), "vip_subnet_id": ctx.field("subnet_id")}})
    return redirect(ctx.state, "/loadbalancers", "Load balancer requested.")


async def loadbalancer_delete(ctx: Ctx) -> Response:
    lid = ctx.path("id")
    got = await ctx.apis.get("loadbalancer", f"/lbaas/loadbalancers/{seg(lid)}", ctx.who)
    _mine(ctx, (got or {}).get("loadbalancer"), "load balancer", lid)
    await ctx.apis.call("loadbalancer", "DELETE", f"/lbaas/loadbalancers/{seg(lid)}",
                        ctx.who, params={"cascade": "true"})
    return redirect(ctx.state, "/loadbalancers", "Load balancer deletion requested.")


# topology and live status ------------------------------------------------------------
async def topology_page(ctx: Ctx) -> Response:
    return ctx.render("topology.html")


async def topology_json(ctx: Ctx) -> Response:
    nets, rs, ports, servers, (lbs, _), fips, ext = await asyncio.gather(
        _net(ctx, "/networks", "networks"), _net(ctx, "/routers", "routers"),
        _net(ctx, "/ports", "ports"), _servers(ctx), _loadbalancers(ctx),
        _net(ctx, "/floatingips", "floatingips"), _external_networks(ctx))
    # The external networks the project's routers use (their names); build() draws no
    # other.
    gateways = {(r.get("external_gateway_info") or {}).get("network_id") for r in rs}
    known = {n["id"] for n in nets}
    nets = nets + [n for n in ext if n["id"] in gateways and n["id"] not in known]
    router_ids = {r["id"] for r in rs}
    router_ports = [p for p in ports if p.get("device_owner") in ROUTER_OWNERS
                    and p.get("device_id") in router_ids]
    return JSONResponse(topology.build(nets, rs, router_ports, servers, lbs, fips, ports))


async def status_json(ctx: Ctx) -> Response:
    """Every live cell's status: ``{"server:<id>": {...}, "router:<id>": {...}}``."""
    servers, rs, (lbs, _) = await asyncio.gather(
        _servers(ctx), _net(ctx, "/routers", "routers"), _loadbalancers(ctx))
    out = {f"server:{s['id']}": views.status_of("server", s) for s in servers}
    out.update({f"router:{r['id']}": views.status_of("router", r) for r in rs})
    out.update({f"loadbalancer:{lb['id']}": views.status_of("loadbalancer", lb)
                for lb in lbs})
    return JSONResponse(out)
