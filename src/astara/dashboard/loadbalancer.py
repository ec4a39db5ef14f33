"""A tenant's load balancer page: its listeners, pools with their members, and health
monitors, through the load-balancer API (Octavia v2) — list, create, delete.

Same rules as ``tenant``: the session's identity and project only. The load balancer is
looked up and must be the session project's; a listener, pool, member or monitor named
in a path or a form must be that load balancer's (checked from the API's own answer:
a pool's ``loadbalancers``, a monitor's ``pools``) before anything is changed, and a
member's subnet must be the project's. What a form asks for is parsed by the pure
``lb_forms``; the API's refusals (its ``faultstring``) are shown as they are.
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from astara.dashboard import lb_forms, views
from astara.dashboard.clients import ApiError, seg
from astara.dashboard.tenant import _mine, _net, _own
from astara.dashboard.web import Ctx, redirect

LB = "loadbalancer"
KINDS = {"listeners": "listener", "pools": "pool", "healthmonitors": "healthmonitor"}


def _ids(relations) -> set[str]:
    return {r.get("id") for r in relations or [] if isinstance(r, dict)}


async def _lb(ctx: Ctx) -> dict:
    lid = ctx.path("id")
    got = await ctx.apis.get(LB, f"/lbaas/loadbalancers/{seg(lid)}", ctx.who)
    return _mine(ctx, (got or {}).get("loadbalancer"), "load balancer", lid)


async def _child(ctx: Ctx, lb: dict, plural: str, cid: str) -> dict:
    """A listener, pool or health monitor of ``lb`` (else "not found", nothing done)."""
    single = KINDS[plural]
    got = await ctx.apis.get(LB, f"/lbaas/{plural}/{seg(cid)}", ctx.who)
    item = _mine(ctx, (got or {}).get(single), single, cid)
    if plural == "healthmonitors":
        for pool_id in _ids(item.get("pools")):
            await _child(ctx, lb, "pools", pool_id)
        if not _ids(item.get("pools")):
            raise ApiError(404, f"No health monitor {cid} on this load balancer.")
    elif lb["id"] not in _ids(item.get("loadbalancers")):
        raise ApiError(404, f"No {single} {cid} on this load balancer.")
    return item


async def _listing(ctx: Ctx, plural: str) -> list[dict]:
    got = await ctx.apis.get(LB, f"/lbaas/{plural}", ctx.who, project_id=ctx.who.project_id)
    return (got or {}).get(plural, [])


async def loadbalancer(ctx: Ctx) -> Response:
    lb = await _lb(ctx)
    listeners, pools, monitors, subnets = await asyncio.gather(
        _listing(ctx, "listeners"), _listing(ctx, "pools"), _listing(ctx, "healthmonitors"),
        _net(ctx, "/subnets", "subnets"))
    listeners = [x for x in listeners if lb["id"] in _ids(x.get("loadbalancers"))]
    pools = [p for p in pools if lb["id"] in _ids(p.get("loadbalancers"))]
    members = await asyncio.gather(*(
        ctx.apis.get(LB, f"/lbaas/pools/{seg(p['id'])}/members", ctx.who) for p in pools))
    pool_ids = {p["id"] for p in pools}
    return ctx.render(
        "loadbalancer.html", lb={**lb, **views.status_of("loadbalancer", lb)},
        listeners=listeners, subnets=subnets, forms=lb_forms,
        pool_names=views.name_map(pools),
        pools=[{**p, "member_rows": (m or {}).get("members", [])}
               for p, m in zip(pools, members, strict=True)],
        monitors=[m for m in monitors if _ids(m.get("pools")) & pool_ids])


def _back(lb: dict) -> str:
    return f"/loadbalancers/{lb['id']}"


async def listener_create(ctx: Ctx) -> Response:
    lb = await _lb(ctx)
    body = lb_forms.listener(ctx.field("name"), ctx.field("protocol"),
                             ctx.field("protocol_port"))
    pool_id = ctx.field("default_pool_id")
    if pool_id:
        await _child(ctx, lb, "pools", pool_id)
        body["default_pool_id"] = pool_id
    await ctx.apis.post(LB, "/lbaas/listeners", ctx.who,
                        {"listener": {**body, "loadbalancer_id": lb["id"]}})
    return redirect(ctx.state, _back(lb), f"Listener on port {body['protocol_port']} "
                                          "requested.")


async def pool_create(ctx: Ctx) -> Response:
    lb = await _lb(ctx)
    body = lb_forms.pool(ctx.field("name"), ctx.field("protocol"), ctx.field("lb_algorithm"))
    listener_id = ctx.field("listener_id")
    if listener_id:  # the listener's default pool, on its load balancer
        await _child(ctx, lb, "listeners", listener_id)
        body["listener_id"] = listener_id
    else:
        body["loadbalancer_id"] = lb["id"]
    await ctx.apis.post(LB, "/lbaas/pools", ctx.who, {"pool": body})
    return redirect(ctx.state, _back(lb), "Pool requested.")


async def member_create(ctx: Ctx) -> Response:
    lb = await _lb(ctx)
    pool = await _child(ctx, lb, "pools", ctx.field("pool_id"))
    body = lb_forms.member(ctx.field("name"), ctx.field("address"),
                           ctx.field("protocol_port"))
    if ctx.field("subnet_id"):
        body["subnet_id"] = (await _own(ctx, "subnets", "subnet", ctx.field("subnet_id")))["id"]
    await ctx.apis.post(LB, f"/lbaas/pools/{seg(pool['id'])}/members", ctx.who,
                        {"member": body})
    return redirect(ctx.state, _back(lb), f"Member {body['address']}:"
                                          f"{body['protocol_port']} requested.")


async def healthmonitor_create(ctx: Ctx) -> Response:
    lb = await _lb(ctx)
    pool = await _child(ctx, lb, "pools", ctx.field("pool_id"))
    body = lb_forms.healthmonitor(ctx.field("name"), ctx.field("type"), ctx.field("delay"),
                                  ctx.field("timeout"), ctx.field("max_retries"))
    await ctx.apis.post(LB, "/lbaas/healthmonitors", ctx.who,
                        {"healthmonitor": {**body, "pool_id": pool["id"]}})
    return redirect(ctx.state, _back(lb), "Health monitor requested.")


async def child_delete(ctx: Ctx) -> Response:
    lb = await _lb(ctx)
    plural = ctx.path("kind")
    if plural not in KINDS:
        raise ApiError(404, "There is no such page.")
    item = await _child(ctx, lb, plural, ctx.path("cid"))
    await ctx.apis.delete(LB, f"/lbaas/{plural}/{seg(item['id'])}", ctx.who)
    said = {"listeners": "Listener", "pools": "Pool", "healthmonitors": "Health monitor"}
    return redirect(ctx.state, _back(lb), f"{said[plural]} deletion requested.")


async def member_delete(ctx: Ctx) -> Response:
    lb = await _lb(ctx)
    pool = await _child(ctx, lb, "pools", ctx.path("pid"))
    mid = ctx.path("mid")
    got = await ctx.apis.get(LB, f"/lbaas/pools/{seg(pool['id'])}/members/{seg(mid)}",
                             ctx.who)
    member = _mine(ctx, (got or {}).get("member"), "member", mid)
    await ctx.apis.delete(LB, f"/lbaas/pools/{seg(pool['id'])}/members/{seg(member['id'])}",
                          ctx.who)
    return redirect(ctx.state, _back(lb), "Member deletion requested.")
