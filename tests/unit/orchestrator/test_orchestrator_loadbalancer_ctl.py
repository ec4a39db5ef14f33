"""The operator's view of load balancers: the worker's summary of one, the RPC API's
``/loadbalancers/`` and ``/loadbalancer/<command>/<id>``, and ``astara-ctl
loadbalancer`` (its arguments, its table, and a whole call through the RPC app)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from tests.loadbalancer_world import LB_ID, PROJECT, REF, VIP_PORT, LBWorld
from tests.unit.orchestrator.test_orchestrator_loadbalancer_reconcile import health

from astara.cli import ctl
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import Context, RouterState
from astara.orchestrator.rpc import build_app
from astara.orchestrator.runtime import summary

ROUTER_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
ROUTER = ResourceRef("router", ROUTER_ID, PROJECT)
TOKEN = "t0ken"


def converged(m2: str = "ONLINE") -> LBWorld:
    w = LBWorld()
    w.step()
    w.appliances.lb_health[w.mgmt_address()] = health(m2)
    w.converge()
    return w


def test_a_served_load_balancer_shows_its_vip_children_and_written_statuses():
    view = summary(LB_ID, converged("ERROR").rec.state(REF))
    assert {k: view[k] for k in ("vip_address", "vip_port_id", "revision", "listeners",
                                 "pools", "members")} == {
        "vip_address": "192.0.2.10", "vip_port_id": VIP_PORT, "revision": 1,
        "listeners": 2, "pools": 2, "members": 3}
    assert (view["provisioning_status"], view["operating_status"]) == ("ACTIVE", "DEGRADED")
    assert list(view)[-1] == "steps"  # a table shows the steps last


def test_a_booting_load_balancer_claims_no_status_yet():
    w = LBWorld()
    w.step()  # CreateVM: no document built yet, nothing written back
    view = summary(LB_ID, w.rec.state(REF))
    assert view["kind"] == "loadbalancer" and view["instance_id"]
    assert view["provisioning_status"] is None and view["operating_status"] is None


def test_after_a_restart_nothing_is_claimed_about_what_is_not_known():
    st = converged().rec.state(REF)
    st.context, st.reported, st.report = Context(desired_digest="d"), None, None
    view = summary(LB_ID, st)
    assert all(view[k] is None for k in ("vip_address", "listeners", "revision",
                                         "provisioning_status", "operating_status"))


def test_a_router_has_none_of_the_load_balancer_fields():
    assert "vip_address" not in summary(ROUTER_ID, RouterState(tenant_id=PROJECT))


class _Orch:
    """What the RPC API reads from the parent: one load balancer and one router."""

    def forward_target(self, rid: str) -> None:
        return None  # a single node: every command is answered here

    def __init__(self, lb_view: dict):
        router_view = {**lb_view, "id": ROUTER_ID, "kind": "router"}
        self.views = [lb_view, router_view]
        self.submitted: list[ResourceRef] = []
        self.rebuilt: list[ResourceRef] = []

    def ref_for(self, rid: str) -> ResourceRef | None:
        return {LB_ID: REF, ROUTER_ID: ROUTER}.get(rid)

    def submit(self, ref: ResourceRef) -> None:
        self.submitted.append(ref)

    def rebuild(self, ref: ResourceRef) -> None:
        self.rebuilt.append(ref)

    def router_views(self) -> list[dict]:
        return list(self.views)


@pytest.fixture
def orch() -> _Orch:
    return _Orch(summary(LB_ID, converged().rec.state(REF)))


def rpc(orch: _Orch, *calls: tuple[str, str]) -> list[httpx.Response]:
    app = build_app(orch, TOKEN.encode())  # type: ignore[arg-type]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://rpc",
                                     headers={"X-Auth-Token": TOKEN}) as client:
            return [await client.request(m, p) for m, p in calls]

    return asyncio.run(run())


def test_each_kind_lists_only_its_own(orch):
    lbs, routers, every, bad = rpc(orch, ("GET", "/loadbalancers/"),
                                   ("GET", "/routers/?kind=router"), ("GET", "/routers/"),
                                   ("GET", "/routers/?kind=vpn"))
    assert [v["id"] for v in lbs.json()["loadbalancers"]] == [LB_ID]
    assert [v["id"] for v in routers.json()["routers"]] == [ROUTER_ID]
    assert {v["id"] for v in every.json()["routers"]} == {LB_ID, ROUTER_ID}
    assert bad.status_code == 400 and "kind is one of" in bad.json()["error"]["message"]


def test_a_load_balancer_is_shown_by_its_id_and_a_router_is_not(orch):
    shown, router, unknown = rpc(orch, ("GET", f"/loadbalancers/{LB_ID}"),
                                 ("GET", f"/loadbalancers/{ROUTER_ID}"),
                                 ("GET", "/loadbalancers/nope"))
    assert shown.json()["loadbalancer"]["vip_address"] == "192.0.2.10"
    assert router.status_code == 404 and unknown.status_code == 404


def test_commands_act_on_load_balancers_only(orch):
    rebuilt, updated, on_router, unknown = rpc(
        orch, ("PUT", f"/loadbalancer/rebuild/{LB_ID}"),
        ("PUT", f"/loadbalancer/update/{LB_ID}"), ("PUT", f"/loadbalancer/update/{ROUTER_ID}"),
        ("PUT", f"/loadbalancer/explode/{LB_ID}"))
    assert rebuilt.json() == {"loadbalancer": LB_ID, "kind": "loadbalancer",
                              "command": "rebuild"}
    assert orch.rebuilt == [REF] and orch.submitted == [REF]
    assert on_router.status_code == 404
    assert on_router.json()["error"]["message"] == f"loadbalancer {ROUTER_ID} not found"
    assert unknown.status_code == 404


@pytest.mark.parametrize(("kind", "action", "rid", "expected"), [
    ("router", "list", None, ("GET", "/routers/?kind=router", "routers")),
    ("loadbalancer", "list", None, ("GET", "/loadbalancers/", "loadbalancers")),
    ("loadbalancer", "show", LB_ID, ("GET", f"/loadbalancers/{LB_ID}", "loadbalancer")),
    ("router", "show", "a/b", ("GET", "/routers/a%2Fb", "router")),
    ("loadbalancer", "rebuild", LB_ID, ("PUT", f"/loadbalancer/rebuild/{LB_ID}", None)),
    ("router", "manage", ROUTER_ID, ("PUT", f"/router/manage/{ROUTER_ID}", None)),
])
def test_each_command_calls_its_route(kind, action, rid, expected):
    assert ctl.request(kind, action, rid) == expected


def test_a_command_without_an_id_says_which_kind_it_needs():
    with pytest.raises(SystemExit, match="a loadbalancer id is required"):
        ctl.request("loadbalancer", "rebuild", None)


class _InProcess(httpx.BaseTransport):
    """A synchronous transport answering from an ASGI app (ctl's client is synchronous)."""

    def __init__(self, app):
        self.asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            answer = await self.asgi.handle_async_request(httpx.Request(
                request.method, request.url, headers=request.headers,
                content=request.read()))
            return httpx.Response(answer.status_code, headers=answer.headers,
                                  content=await answer.aread())

        return asyncio.run(call())


@pytest.fixture
def through_app(orch, monkeypatch):
    """``astara-ctl`` calling the RPC app in process (its own client, another transport)."""
    real = httpx.Client
    app = build_app(orch, TOKEN.encode())  # type: ignore[arg-type]
    monkeypatch.setattr(ctl.httpx, "Client",
                        lambda **kw: real(transport=_InProcess(app), **kw))
    monkeypatch.setenv("ASTARA_RPC_TOKEN", TOKEN)
    return orch


def out(capsys) -> list[str]:
    return [line.rstrip() for line in capsys.readouterr().out.splitlines()]


def test_ctl_loadbalancer_list_is_a_table_of_load_balancers(through_app, capsys):
    assert ctl.main(["loadbalancer", "list"]) == 0
    header, *rows = out(capsys)
    assert header.split() == ["ID", "TENANT_ID", "VIP_ADDRESS", "LISTENERS", "STATUS",
                              "OPERATING_STATUS", "STATE", "INSTANCE_ID", "LAST_ERROR"]
    [row] = rows
    assert row.split()[:7] == [LB_ID, PROJECT, "192.0.2.10", "2", "ACTIVE", "ONLINE", "configured"]


def test_ctl_router_list_leaves_load_balancers_out(through_app, capsys):
    assert ctl.main(["--format", "json", "router", "list"]) == 0
    assert [v["id"] for v in json.loads(capsys.readouterr().out)] == [ROUTER_ID]


def test_ctl_loadbalancer_show_prints_its_fields_then_its_steps(through_app, capsys):
    assert ctl.main(["loadbalancer", "show", LB_ID]) == 0
    lines = out(capsys)
    for expected in ("kind: loadbalancer", "vip_address: 192.0.2.10", "listeners: 2",
                     "members: 3", "revision: 1", "operating_status: ONLINE",
                     "provisioning_status: ACTIVE"):
        assert expected in lines
    steps = lines.index("steps:")
    assert lines.index("vip_address: 192.0.2.10") < steps
    assert lines[steps + 1].split()[0] == "CreateVM"


def test_ctl_loadbalancer_rebuild_replaces_its_appliance(through_app, capsys):
    assert ctl.main(["--format", "json", "loadbalancer", "rebuild", LB_ID]) == 0
    assert json.loads(capsys.readouterr().out)["command"] == "rebuild"
    assert through_app.rebuilt == [REF]


def test_ctl_loadbalancer_commands_refuse_a_router(through_app):
    with pytest.raises(SystemExit, match=f"loadbalancer {ROUTER_ID} not found .HTTP 404."):
        ctl.main(["loadbalancer", "update", ROUTER_ID])
    assert through_app.submitted == []
