"""A tenant's pages: instances, networks and subnets, routers, floating IPs, load
balancers, topology, and the live status they poll. Each handler reads or acts through
``Apis`` with the session's identity, and only on the session's project: a resource of
another project is "not found" here even for an admin (admins have their own pages).
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from astara.common import device_owners
from astara.dashboard import views
from astara.dashboard.clients import ApiError, seg
from astara.dashboard.web import Ctx, redirect

# A router's interfaces (ours and Neutron's DVR/HA spellings), then its gateway.
ROUTER_OWNERS = (device_owners.INTERFACE, "network:router_interface_distributed",
                 "network:ha_router_replicated_interface", device_owners.GATEWAY)


def _mine(ctx: Ctx, item: dict | None, what: str, rid: str) -> dict:
    if not item or (item.get("project_id") or item.get("tenant_id")) != ctx.who.project_id:
        raise ApiError(404, f"No {what} {rid} in project {ctx.who.project_id}.")
    return item


async def _net(ctx: Ctx, path: str, key: str, **params) -> list[dict]:
    got = await ctx.apis.get("network", path, ctx.who, project_id=ctx.who.project_id,
                             **params)
    return (got or {}).get(key, [])


async def _own(ctx: Ctx, collection: str, what: str, rid: str) -> dict:
    """A network resource a form names, looked up with the session project's filter: an
    id of another project's (which an admin's API would take) is "not found" here."""
    found = [i for i in await _net(ctx, f"/{collection}", collection, id=rid)
             if i.get("id") == rid] if rid else []
    return _mine(ctx, found[0] if found else None, what, rid)


async def _external(ctx: Ctx, nid: str) -> dict:
    """A gateway's or floating IP's network: any project's, but ``router:external``."""
    got = await ctx.apis.get("network", "/networks", ctx.who, id=nid,
                             **{"router:external": "true"}) if nid else None
    found = [n for n in (got or {}).get("networks", [])
             if n.get("id") == nid and n.get("router:external") is True]
    if not found:
        raise ApiError(404, f"No external network {nid}.")
    return found[0]


async def _servers(ctx: Ctx) -> list[dict]:
    got = await ctx.apis.get("compute", "/servers/detail", ctx.who)
    return [s for s in (got or {}).get("servers", [])
            if s.get("tenant_id", ctx.who.project_id) == ctx.who.project_id]


async def _server(ctx: Ctx, sid: str) -> dict:
    got = await ctx.apis.get("compute", f"/servers/{seg(sid)}", ctx.who)
    server = (got or {}).get("server")
    return _mine(ctx, {**server, "project_id": server.get("tenant_id")} if server else None,
                 "instance", sid)


async def _external_networks(ctx: Ctx) -> list[dict]:
    got = await ctx.apis.get("network", "/networks", ctx.who, **{"router:external": "true"})
    return (got or {}).get("networks", [])


async def _loadbalancers(ctx: Ctx) -> tuple[list[dict], str | None]:
    try:
        got = await ctx.apis.get("loadbalancer", "/lbaas/loadbalancers", ctx.who,
                                 project_id=ctx.who.project_id)
    except ApiError as exc:
        return [], exc.message
    return (got or {}).get("loadbalancers", []), None


# instances ---------------------------------------------------------------------------
async def instances(ctx: Ctx) -> Response:
    servers, flavors, images, networks = await asyncio.gather(
        _servers(ctx), ctx.apis.get("compute", "/flavors", ctx.who),
        ctx.apis.get("compute", "/images", ctx.who), _net(ctx, "/networks", "networks"))
    return ctx.render("instances.html", servers=[views.server_row(s) for s in servers],
                      flavors=(flavors or {}).get("flavors", []),
                      images=(images or {}).get("images", []), networks=networks)


async def instance_create(ctx: Ctx) -> Response:
    server = {"name": ctx.field("name").strip() or "instance",
              "imageRef": ctx.field("image"), "flavorRef": ctx.field("flavor")}
    nets = [{"uuid": n} for n in dict.fromkeys(ctx.fields("network")) if n]
    await asyncio.gather(*(_own(ctx, "networks", "network", n["uuid"]) for n in nets))
    if nets:
        server["networks"] = nets
    got = await ctx.apis.post("compute", "/servers", ctx.who, {"server": server})
    sid = (got or {}).get("server", {}).get("id")
    return redirect(ctx.state, f"/instances/{sid}" if sid else "/instances",
                    "Instance requested: it is being built.")


async def instance(ctx: Ctx) -> Response:
    sid = ctx.path("id")
    server = await _server(ctx, sid)
    meta = (await ctx.apis.get("compute", f"/servers/{seg(sid)}/metadata", ctx.who)
            or {}).get("metadata", {})
    return ctx.render("instance.html", s=views.server_row({**server, "metadata": meta}))


async def instance_console(ctx: Ctx) -> Response:
    sid = ctx.path("id")
    await _server(ctx, sid)
    got = await ctx.apis.post("compute", f"/servers/{seg(sid)}/action", ctx.who,
                              {"os-getConsoleOutput": {"length": 200}})
    return ctx.render("console.html", sid=sid, output=(got or {}).get("output", ""))


async def instance_action(ctx: Ctx) -> Response:
    sid, action = ctx.path("id"), ctx.field("action")
    if action not in views.SERVER_ACTIONS:
        raise ApiError(400, f"Unknown instance action {action[:32]!r}.")
    await _server(ctx, sid)
    await ctx.apis.post("compute", f"/servers/{seg(sid)}/action", ctx.who,
                        views.SERVER_ACTIONS[action])
    return redirect(ctx.state, f"/instances/{sid}", f"{action.capitalize()} requested.")


async def instance_delete(ctx: Ctx) -> Response:
    sid = ctx.path("id")
    await _server(ctx, sid)
    await ctx.apis.delete("compute", f"/servers/{seg(sid)}", ctx.who)
    return redirect(ctx.state, "/instances", "Instance deletion requested.")


async def instance_metadata(ctx: Ctx) -> Response:
    sid, key = ctx.path("id"), ctx.field("key").strip()
    await _server(ctx, sid)
    if ctx.field("op") == "delete":
        await ctx.apis.delete("compute", f"/servers/{seg(sid)}/metadata/{seg(key)}", ctx.who)
    else:
        await ctx.apis.post("compute", f"/servers/{seg(sid)}/metadata", ctx.who,
                            {"metadata": {key: ctx.field("value")}})
    return redirect(ctx.state, f"/instances/{sid}", "Metadata saved.")


# networks and subnets ------------------------------------------------------------------
async def networks(ctx: Ctx) -> Response:
    nets, subnets = await asyncio.gather(_net(ctx, "/networks", "networks"),
                                         _net(ctx, "/subnets", "subnets"))
    by_net: dict[str, list[dict]] = {}
    for s in subnets:
        by_net.setdefault(s.get("network_id"), []).append(s)
    return ctx.render("networks.html", networks=nets, subnets=by_net)


async def network_create(ctx: Ctx) -> Response:
    got = await ctx.apis.post("network", "/networks", ctx.who,
                              {"network": {"name": ctx.field("name").strip()}})
    net = (got or {}).get("network", {})
    cidr = ctx.field("cidr").strip()
    if cidr and net.get("id"):
        await _subnet(ctx, net["id"])
    return redirect(ctx.state, "/networks", f"Network {net.get('name') or net.get('id')} "
                                            "created.")


async def _subnet(ctx: Ctx, net_id: str) -> None:
    cidr = ctx.field("cidr").strip()
    await ctx.apis.post("network", "/subnets", ctx.who, {"subnet": {
        "network_id": net_id, "cidr": cidr, "ip_version": 6 if ":" in cidr else 4,
        "name": ctx.field("subnet_name").strip()}})


async def network(ctx: Ctx) -> Response:
    nid = ctx.path("id")
    got = await ctx.apis.get("network", f"/networks/{seg(nid)}", ctx.who)
    net = _mine(ctx, (got or {}).get("network"), "network", nid)
    subnets = await _net(ctx, "/subnets", "subnets", network_id=nid)
    ports = await _net(ctx, "/ports", "ports", network_id=nid)
    return ctx.render("network.html", net=net, subnets=subnets, ports=ports)


async def subnet_create(ctx: Ctx) -> Response:
    nid = ctx.path("id")
    got = await ctx.apis.get("network", f"/networks/{seg(nid)}", ctx.who)
    _mine(ctx, (got or {}).get("network"), "network", nid)
    await _subnet(ctx, nid)
    return redirect(ctx.state, f"/networks/{nid}", "Subnet created.")


async def network_delete(ctx: Ctx) -> Response:
    nid = ctx.path("id")
    got = await ctx.apis.get("network", f"/networks/{seg(nid)}", ctx.who)
    _mine(ctx, (got or {}).get("network"), "network", nid)
    await ctx.apis.delete("network", f"/networks/{seg(nid)}", ctx.who)
    return redirect(ctx.state, "/networks", "Network deleted.")


async def subnet_delete(ctx: Ctx) -> Response:
    sid = ctx.path("id")
    got = await ctx.apis.get("network", f"/subnets/{seg(sid)}", ctx.who)
    sub = _mine(ctx, (got or {}).get("subnet"), "subnet", sid)
    await ctx.apis.delete("network", f"/subnets/{seg(sid)}", ctx.who)
    return redirect(ctx.state, f"/networks/{sub.get('network_id')}", "Subnet deleted.")
