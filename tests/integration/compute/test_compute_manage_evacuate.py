"""``astara-compute-manage host-evacuate`` through its main(), over a real database and
an RPC API on loopback standing in for the orchestrator's: a drained host's appliances
are rebuilt (one request per resource, with the operator's token), tenants' instances
are left, and a host not drained is refused before anything is asked."""

from __future__ import annotations

import json
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.support import Server, free_port

from astara.cli import compute_manage as manage
from astara.compute_service import catalog, jobs
from astara.compute_service.models import Host, Instance

TOKEN = "evacuate-token"


def _instance(host: str, image: str, metadata: dict, deleted: bool = False) -> Instance:
    now = jobs.now()
    return Instance(id=str(uuid.uuid4()), project_id="astara-service", name="x", host=host,
                    flavor_id="1", image_id=image, metadata_=metadata, deleted=deleted,
                    created_at=now, updated_at=now)


def _rpc(db, asked: list[tuple[str, str, str]], current: dict[tuple[str, str], str]):
    """The orchestrator's RPC API as host-evacuate uses it. ``GET /<kind>s/<id>``: the
    appliance it holds for each key (``current``; member 1's in its router's ``ha``).
    ``PUT /<kind>/rebuild/<key>``: recorded; the old appliance's delete waits for its
    (dead) host's agent (``deleting``), the new one is placed on h2 and active, or in
    error with no host for a key named ``no-room``."""
    async def show(request: Request):  # the orchestrator's paths: /routers/, /loadbalancers/
        kind, rid = request.url.path.split("/")[1].removesuffix("s"), request.path_params["rid"]
        if (kind, rid) not in current:
            return JSONResponse({"error": {"code": 404, "message": "not known"}}, 404)
        row = {"id": rid, "instance_id": current[(kind, rid)]}
        if (kind, rid + ".ha1") in current:
            row["ha"] = {"members": [{"member": 0, "instance_id": current[(kind, rid)]},
                                     {"member": 1, "instance_id": current[(kind, rid + ".ha1")]}]}
        return JSONResponse({kind: row})

    async def rebuild(request: Request):
        kind, rid = request.path_params["kind"], request.path_params["rid"]
        asked.append((kind, rid, request.headers.get("X-Auth-Token", "")))
        if rid == "refused":
            return JSONResponse({"error": {"code": 404, "message": "no such router"}}, 404)
        key = "astara_router_id" if kind == "router" else "astara_loadbalancer_id"
        with db.write() as s:
            s.get(Instance, current[(kind, rid)]).task_state = "deleting"
            new = _instance("" if rid == "no-room" else "h2", catalog.APPLIANCE_IMAGE,
                            {key: rid})
            new.vm_state = "error" if rid == "no-room" else "active"
            s.add(new)
            current[(kind, rid)] = new.id
        return JSONResponse({"message": "rebuild requested"})
    return Starlette(routes=[Route("/{kind}/rebuild/{rid}", rebuild, methods=["PUT"]),
                             Route("/routers/{rid}", show, methods=["GET"]),
                             Route("/loadbalancers/{rid}", show, methods=["GET"])])


def _config(db, tmp_path) -> list[str]:
    config = tmp_path / "manage.ini"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n"
                      f"[database]\nconnection = {db.url}\nauto_migrate = false\n")
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "token").chmod(0o600)
    return ["--config-file", str(config)]


def test_evacuate_a_drained_host(db, tmp_path, capsys):
    """HA pair both here (two keys), a pair's member 1 alone here, a load balancer, an
    orphan appliance (not the one held), a tenant's instance; then a second run."""
    both, lone, lb = (str(uuid.uuid4()) for _ in range(3))
    with db.write() as s:
        s.add_all([Host(name="h1", capacity=10, drained=False, updated_at=jobs.now()),
                   Host(name="h2", capacity=10, drained=False, updated_at=jobs.now())])
        rows = {("router", both): _instance("h1", catalog.APPLIANCE_IMAGE,
                                            {"astara_router_id": both}),
                ("router", both + ".ha1"): _instance("h1", catalog.APPLIANCE_IMAGE,
                                                     {"astara_router_id": both + ".ha1"}),
                ("router", lone): _instance("h2", catalog.APPLIANCE_IMAGE,
                                            {"astara_router_id": lone}),
                ("router", lone + ".ha1"): _instance("h1", catalog.APPLIANCE_IMAGE,
                                                     {"astara_router_id": lone + ".ha1"}),
                ("loadbalancer", lb): _instance("h1", catalog.APPLIANCE_IMAGE,
                                                {"astara_loadbalancer_id": lb})}
        # a load balancer's old appliance the orchestrator no longer holds
        orphan = _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_loadbalancer_id": lb})
        # a tenant's instance naming a router: not an appliance, never rebuilt
        tenant = _instance("h1", catalog.TENANT_IMAGE, {"astara_router_id": "forged"})
        s.add_all([*rows.values(), orphan, tenant,
                   _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_router_id": "gone"},
                             deleted=True)])
        current = {key: row.id for key, row in rows.items()}
        tenant_id, orphan_id = tenant.id, orphan.id
    asked: list[tuple[str, str, str]] = []
    rpc = Server(_rpc(db, asked, current), free_port()).start()
    args = [*_config(db, tmp_path), "host-evacuate", "h1", "--rpc-url", rpc.url,
            "--token-file", str(tmp_path / "token")]
    try:
        capsys.readouterr()
        try:
            manage.main(args)
            raise AssertionError("evacuated an undrained host")
        except SystemExit as exc:
            assert "is not drained" in str(exc)
        assert asked == []

        assert manage.main([*args[:2], "host-drain", "h1"]) == 0
        capsys.readouterr()
        assert manage.main([*args, "--wait", "--timeout", "30"]) == 0
        out = capsys.readouterr()
        result = json.loads(out.out)
        want = [("router", both, TOKEN), ("router", both + ".ha1", TOKEN),
                ("router", lone + ".ha1", TOKEN), ("loadbalancer", lb, TOKEN)]
        assert sorted(asked) == sorted(want)
        assert [r["id"] for r in result["not_current"]] == [lb]
        assert result["not_current"][0]["instance_id"] == orphan_id
        assert result["left"] == [tenant_id]
        assert result["remaining"] == [] and result["not_replaced"] == []
        assert f"router {lone}.ha1: active" in out.err

        # again: what moved is being deleted (the host's agent is dead), nothing is asked
        assert manage.main([*args, "--wait", "--timeout", "30"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert len(asked) == 4 and again["rebuilds"] == []
        assert len(again["deleting"]) == 4
    finally:
        rpc.stop()


def test_a_refused_or_unplaced_rebuild_is_reported_and_fails(db, tmp_path, capsys):
    with db.write() as s:
        s.add(Host(name="h1", capacity=10, drained=True, updated_at=jobs.now()))
        refused = _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_router_id": "refused"})
        no_room = _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_router_id": "no-room"})
        s.add_all([refused, no_room])
        current = {("router", "refused"): refused.id, ("router", "no-room"): no_room.id}
    asked: list[tuple[str, str, str]] = []
    rpc = Server(_rpc(db, asked, current), free_port()).start()
    args = [*_config(db, tmp_path), "host-evacuate", "h1", "--rpc-url", rpc.url,
            "--token-file", str(tmp_path / "token")]
    try:
        capsys.readouterr()
        assert manage.main([*args, "--wait", "--timeout", "30"]) == 1
        out = capsys.readouterr()
        result = json.loads(out.out)
        assert result["failed"][0]["id"] == "refused"
        assert result["not_replaced"] == ["router no-room (error)"]
        assert "no such router (HTTP 404)" in out.err
        try:
            manage.main([*args[:2], "host-evacuate", "nope", "--rpc-url", rpc.url,
                         "--token-file", str(tmp_path / "token")])
            raise AssertionError("evacuated an unknown host")
        except SystemExit as exc:
            assert "no host 'nope' is registered" in str(exc)
        try:  # the token in clear to another host: refused before anything is read
            manage.main([*args[:2], "host-evacuate", "h1", "--rpc-url",
                         "http://192.0.2.1:44250", "--token-file", str(tmp_path / "token")])
            raise AssertionError("sent the token over plain http")
        except SystemExit as exc:
            assert "plain http to another host" in str(exc)
        assert sorted(rid for _, rid, _ in asked) == ["no-room", "refused"]
    finally:
        rpc.stop()
