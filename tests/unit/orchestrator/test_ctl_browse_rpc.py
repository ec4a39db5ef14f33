"""``astara-ctl browse``'s real API client against the orchestrator's RPC app in process:
it lists both kinds and sends the same commands as ``astara-ctl``; a refusal or an
unreachable orchestrator is an ``APIError`` of one line."""

from __future__ import annotations

import httpx
import pytest
from tests.unit.orchestrator.test_orchestrator_loadbalancer_ctl import _InProcess

from astara.cli import ctl
from astara.cli.browse_api import APIError, RpcOrchestratorAPI
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.rpc import build_app

TOKEN = "t0ken"
ROUTER = ResourceRef("router", "r-1", "p1")
LB = ResourceRef("loadbalancer", "lb-1", "p2")


class _Debug:
    def __init__(self, log: list):
        self.log = log

    def set(self, scope: str, key: str, reason: str) -> None:
        self.log.append(("debug", key))

    def clear(self, scope: str, key: str) -> None:
        self.log.append(("manage", key))


class _Orch:
    """What the RPC app reads and calls: one router, one load balancer."""

    def __init__(self):
        self.log: list[tuple[str, str]] = []
        self.debug = _Debug(self.log)
        self.known = {r.id: r for r in (ROUTER, LB)}

    def ref_for(self, rid: str) -> ResourceRef | None:
        return self.known.get(rid)

    def forward_target(self, rid: str) -> None:  # a single node: nothing is forwarded
        return None

    def submit(self, ref: ResourceRef) -> None:
        self.log.append(("update", ref.id))

    def rebuild(self, ref: ResourceRef) -> None:
        self.log.append(("rebuild", ref.id))

    def poll(self) -> int:
        self.log.append(("poll", "*"))
        return 2

    def broadcast_debug(self) -> None:
        pass

    def router_views(self) -> list[dict]:
        return [{"id": r.id, "kind": r.kind, "tenant_id": r.tenant_id, "status": "ACTIVE"}
                for r in self.known.values()]


def client(orch: _Orch, token: str = TOKEN) -> RpcOrchestratorAPI:
    app = build_app(orch, TOKEN.encode())  # type: ignore[arg-type]
    return RpcOrchestratorAPI("http://rpc", token, transport=_InProcess(app))


def test_lists_routers_and_load_balancers_with_their_kind():
    api = client(_Orch())
    assert [(v["id"], v["kind"]) for v in api.resources()] == [
        ("r-1", "router"), ("lb-1", "loadbalancer")]


@pytest.mark.parametrize(("kind", "rid"), [("router", "r-1"), ("loadbalancer", "lb-1")])
def test_each_command_reaches_the_orchestrator(kind, rid):
    orch = _Orch()
    api = client(orch)
    for action in ("rebuild", "update", "debug", "manage"):
        assert api.command(kind, action, rid)["command"] == action
    assert api.poll() == {"queued": 2}
    assert orch.log == [("rebuild", rid), ("update", rid), ("debug", rid), ("manage", rid),
                        ("update", rid), ("poll", "*")]  # manage hands it back: an update


def test_a_refused_call_is_one_line():
    orch = _Orch()
    with pytest.raises(APIError, match=r"^loadbalancer r-1 not found \(HTTP 404\)$"):
        client(orch).command("loadbalancer", "rebuild", "r-1")
    with pytest.raises(APIError, match=r"\(HTTP 401\)$"):
        client(orch, token="wrong").resources()
    assert orch.log == []


def test_an_unreachable_orchestrator_is_one_line():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    api = RpcOrchestratorAPI("http://127.0.0.1:9", TOKEN, transport=httpx.MockTransport(refuse))
    with pytest.raises(APIError, match="^orchestrator unreachable at http://127.0.0.1:9: "
                                       "connection refused$"):
        api.resources()


def test_ctl_browse_refuses_a_negative_interval(monkeypatch):
    monkeypatch.setenv("ASTARA_RPC_TOKEN", TOKEN)
    with pytest.raises(SystemExit, match="--interval is 0 or more seconds"):
        ctl.main(["browse", "--interval", "-1"])
