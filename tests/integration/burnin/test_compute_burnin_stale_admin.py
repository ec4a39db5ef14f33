"""The compute burn-in's stale sweep with an admin's identity on the real network API
(which then lists every project's networks): another project's ``burnin-*`` network
is neither listed nor deleted; the burn-in's own is."""

from __future__ import annotations

import httpx
from starlette.testclient import TestClient
from tests.integration.conftest import make_settings

from astara.compute_service.burnin import scenario
from astara.compute_service.burnin.client import ApiClient
from astara.network_service.app import create_app

ADMIN = {"X-Project-Id": "burn", "X-User-Id": "op", "X-Roles": "admin,member,reader"}


def headers(project: str) -> dict[str, str]:
    return {"X-Project-Id": project, "X-User-Id": "u", "X-Roles": "member,reader"}


class AdminToken(httpx.Auth):
    """What an admin cloud's token amounts to behind the API's auth middleware."""

    def auth_flow(self, request):
        request.headers.update(ADMIN)
        yield request


def test_an_admins_stale_sweep_spares_other_projects_networks(tmp_path):
    app = create_app(make_settings(tmp_path, 0))
    with TestClient(app, base_url="http://t") as tc:
        def create(project: str, name: str) -> str:
            r = tc.post("/v2.0/networks", json={"network": {"name": name}},
                        headers=headers(project))
            assert r.status_code == 201, r.text
            return r.json()["network"]["id"]

        victim = create("victim", "burnin-prod-db")
        mine = create("burn", "burnin-left")
        api = ApiClient("http://c", "http://t", "http://m", "burn", auth=AdminToken())
        api.network = TestClient(app, base_url="http://t/v2.0")
        api.network.auth = AdminToken()
        api.servers = lambda: []  # type: ignore[method-assign]  # no compute API here
        seen = tc.get("/v2.0/networks", headers=ADMIN).json()["networks"]
        assert victim in [n["id"] for n in seen]  # the admin does see the victim's
        out = scenario.delete_stale(api, "burnin-", timeout=1)
        assert out["networks"] == [{"id": mine, "name": "burnin-left"}]
        assert out["not_deleted"] == []
        left = tc.get("/v2.0/networks", headers=headers("victim")).json()["networks"]
        assert [n["id"] for n in left] == [victim]
        assert tc.get(f"/v2.0/networks/{mine}", headers=ADMIN).status_code == 404
