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


def _rpc(db, asked: list[tuple[str, str, str]]):
    """PUT /<kind>/rebuild/<id>: recorded; the orchestrator's rebuild deletes the old
    appliance (its new one is placed elsewhere), so this one marks it deleted."""
    async def rebuild(request: Request):
        kind, rid = request.path_params["kind"], request.path_params["rid"]
        asked.append((kind, rid, request.headers.get("X-Auth-Token", "")))
        if rid == "refused":
            return JSONResponse({"error": {"code": 404, "message": "no such router"}}, 404)
        with db.write() as s:
            for row in s.query(Instance).filter(Instance.host == "h1"):
                if rid in (row.metadata_ or {}).values():
                    row.deleted = True
        return JSONResponse({"message": "rebuild requested"})
    return Starlette(routes=[Route("/{kind}/rebuild/{rid}", rebuild, methods=["PUT"])])


def test_evacuate_a_drained_host(db, tmp_path, capsys):
    router, lb = str(uuid.uuid4()), str(uuid.uuid4())
    with db.write() as s:
        s.add_all([Host(name="h1", capacity=10, drained=False, updated_at=jobs.now()),
                   Host(name="h2", capacity=10, drained=False, updated_at=jobs.now())])
        app_r = _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_router_id": router})
        app_r2 = _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_router_id": router})
        app_lb = _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_loadbalancer_id": lb})
        # a tenant's instance naming a router: not an appliance, never rebuilt
        tenant = _instance("h1", catalog.TENANT_IMAGE, {"astara_router_id": "forged"})
        s.add_all([app_r, app_r2, app_lb, tenant,
                   _instance("h1", catalog.APPLIANCE_IMAGE, {"astara_router_id": "gone"},
                             deleted=True),
                   _instance("h2", catalog.APPLIANCE_IMAGE, {"astara_router_id": "other"})])
        tenant_id = tenant.id
    asked: list[tuple[str, str, str]] = []
    rpc = Server(_rpc(db, asked), free_port()).start()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    config = tmp_path / "manage.ini"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n"
                      f"[database]\nconnection = {db.url}\nauto_migrate = false\n")
    args = ["--config-file", str(config), "host-evacuate", "h1", "--rpc-url", rpc.url,
            "--token-file", str(token_file)]
    try:
        capsys.readouterr()
        try:
            manage.main(args)
            raise AssertionError("evacuated an undrained host")
        except SystemExit as exc:
            assert "is not drained" in str(exc)
        assert asked == []

        assert manage.main(["--config-file", str(config), "host-drain", "h1"]) == 0
        capsys.readouterr()
        assert manage.main([*args, "--wait", "--timeout", "30"]) == 0
        out = capsys.readouterr()
        result = json.loads(out.out)
        assert sorted(asked) == sorted([("router", router, TOKEN),
                                        ("loadbalancer", lb, TOKEN)])
        assert {(r["kind"], r["id"]) for r in result["rebuilds"]} == {
            ("router", router), ("loadbalancer", lb)}
        assert result["left"] == [tenant_id] and result["remaining"] == []
        assert "rebuild asked" in out.err and "0 of 2 still have an appliance on h1" in out.err
    finally:
        rpc.stop()


def test_a_refused_rebuild_is_reported_and_fails(db, tmp_path, capsys):
    with db.write() as s:
        s.add(Host(name="h1", capacity=10, drained=True, updated_at=jobs.now()))
        s.add(_instance("h1", catalog.APPLIANCE_IMAGE, {"astara_router_id": "refused"}))
    asked: list[tuple[str, str, str]] = []
    rpc = Server(_rpc(db, asked), free_port()).start()
    config = tmp_path / "manage.ini"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n"
                      f"[database]\nconnection = {db.url}\nauto_migrate = false\n")
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "token").chmod(0o600)
    try:
        capsys.readouterr()
        assert manage.main(["--config-file", str(config), "host-evacuate", "h1",
                            "--rpc-url", rpc.url, "--token-file",
                            str(tmp_path / "token")]) == 1
        out = capsys.readouterr()
        assert json.loads(out.out)["failed"][0]["id"] == "refused"
        assert "no such router (HTTP 404)" in out.err
        try:
            manage.main(["--config-file", str(config), "host-evacuate", "nope",
                         "--rpc-url", rpc.url, "--token-file", str(tmp_path / "token")])
            raise AssertionError("evacuated an unknown host")
        except SystemExit as exc:
            assert "no host 'nope' is registered" in str(exc)
        assert [rid for _, rid, _ in asked] == ["refused"]
    finally:
        rpc.stop()
