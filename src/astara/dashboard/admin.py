"""An admin's pages: hosts (the compute API's os-services), every router and load
balancer with its orchestrator state and commands, workers (the orchestrator's RPC API),
and the compute dispatcher's dead letters (the compute API's admin-only
``os-astara-dead-letters``: inspect, retry). Only sessions with the admin role.
"""

from __future__ import annotations

from starlette.responses import Response

from astara.dashboard import views
from astara.dashboard.clients import ApiError, seg
from astara.dashboard.web import Ctx, redirect

ROUTER_COMMANDS = ("rebuild", "update", "debug", "manage")
# os-services at 2.53+: a service's id is a UUID a real Nova takes in PUT
# /os-services/<id> (before 2.53 that path is not an update by id at all).
SERVICES_VERSION = {"OpenStack-API-Version": "compute 2.53",
                    "X-OpenStack-Nova-API-Version": "2.53"}


async def hosts(ctx: Ctx) -> Response:
    got = await ctx.apis.get("compute", "/os-services", ctx.who, headers=SERVICES_VERSION)
    return ctx.render("admin_hosts.html",
                      hosts=[views.host_row(s) for s in (got or {}).get("services", [])])


async def host_drain(ctx: Ctx) -> Response:
    sid, op = ctx.path("id"), ctx.path("op")
    if op not in ("drain", "undrain"):
        raise ApiError(404, "Unknown host command.")
    got = await ctx.apis.put("compute", f"/os-services/{seg(sid)}", ctx.who,
                             {"status": "disabled" if op == "drain" else "enabled"},
                             headers=SERVICES_VERSION)
    name = (got or {}).get("service", {}).get("host") or sid
    return redirect(ctx.state, "/admin/hosts",
                    f"Host {name} " + ("drained." if op == "drain" else "undrained."))


async def routers(ctx: Ctx) -> Response:
    got = await ctx.apis.get("rpc", "/routers/", ctx.who)
    rows = [views.admin_router_row(v) for v in (got or {}).get("routers", [])]
    return ctx.render("admin_routers.html", routers=rows)


async def router_command(ctx: Ctx) -> Response:
    rid, command = ctx.path("id"), ctx.path("command")
    if command not in ROUTER_COMMANDS:
        raise ApiError(404, "Unknown router command.")
    body = {"reason": ctx.field("reason")[:255]} if command == "debug" else None
    await ctx.apis.put("rpc", f"/router/{command}/{seg(rid)}", ctx.who, body)
    return redirect(ctx.state, "/admin/routers", f"{command.capitalize()} sent for {rid}.")


async def workers(ctx: Ctx) -> Response:
    got = await ctx.apis.get("rpc", "/workers/", ctx.who)
    health = await ctx.apis.get("rpc", "/health/", ctx.who)
    return ctx.render("admin_workers.html", workers=(got or {}).get("workers", []),
                      breaker=(health or {}).get("breaker", {}))


DEAD_LETTERS_SHOWN = 100  # the oldest ones; the page says when there are more


async def dead_letters(ctx: Ctx) -> Response:
    got = await ctx.apis.get("compute", "/os-astara-dead-letters", ctx.who,
                             limit=DEAD_LETTERS_SHOWN + 1)
    found = (got or {}).get("dead_letters", [])
    now = ctx.state.clock()
    return ctx.render("admin_dead_letters.html", more=len(found) > DEAD_LETTERS_SHOWN,
                      letters=[views.dead_letter_row(d, now)
                               for d in found[:DEAD_LETTERS_SHOWN]])


async def dead_letter_retry(ctx: Ctx) -> Response:
    got = await ctx.apis.post("compute", f"/os-astara-dead-letters/{seg(ctx.path('id'))}"
                              "/action", ctx.who, {"retry": None})
    text, kind = views.retry_message((got or {}).get("retry") or {})
    return redirect(ctx.state, "/admin/dead-letters", text, kind)
