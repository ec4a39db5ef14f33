"""``--show-stale``/``--delete-stale`` touch only the burn-in's project's leftovers,
even with an admin's token (the network API then lists every project's networks);
a refused delete is one line, never a traceback."""

from __future__ import annotations

import json

import httpx

from astara.compute_service.burnin import scenario
from astara.compute_service.burnin.client import ApiClient

NETS = [{"id": "n-mine", "name": "burnin-1", "project_id": "burn"},
        {"id": "n-victim", "name": "burnin-prod-db", "project_id": "victim"},
        {"id": "n-shared", "name": "burnin-ext", "project_id": "other", "shared": True},
        {"id": "n-other", "name": "mine", "project_id": "burn"}]


def admin_api(deleted: list[str], refuse: frozenset[str] = frozenset()) -> ApiClient:
    """An ApiClient on a network API answering as to an admin: every project's
    networks unless ``project_id`` filters them; a DELETE of ``refuse`` is a 403."""
    def network(req: httpx.Request) -> httpx.Response:
        if req.method == "GET":
            want = req.url.params.get("project_id")
            return httpx.Response(200, json={"networks": [
                n for n in NETS if want is None or n["project_id"] == want]})
        net_id = req.url.path.rsplit("/", 1)[-1]
        if net_id in refuse:
            return httpx.Response(403, json={"NeutronError": {
                "type": "PolicyNotAuthorized", "detail": "",
                "message": "rule:delete_network is disallowed by policy"}})
        deleted.append(net_id)
        return httpx.Response(204)

    def compute(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"servers": [
            {"id": "s-victim", "name": "burnin-x", "status": "ACTIVE", "tenant_id": "victim"}]})

    api = ApiClient("http://c", "http://n", "http://m", "burn")
    api.network = httpx.Client(base_url="http://n/v2.0", transport=httpx.MockTransport(network))
    api.compute = httpx.Client(base_url="http://c/v2.1", transport=httpx.MockTransport(compute))
    return api


def test_an_admin_token_finds_and_deletes_only_its_projects_leftovers():
    deleted: list[str] = []
    api = admin_api(deleted)
    assert scenario.stale(api, "burnin-") == {
        "servers": [], "networks": [{"id": "n-mine", "name": "burnin-1"}]}
    assert scenario.delete_stale(api, "burnin-", timeout=1)["not_deleted"] == []
    assert deleted == ["n-mine"]


def test_the_project_filter_alone_is_not_trusted():
    deleted: list[str] = []
    api = admin_api(deleted)
    api.networks = lambda: NETS  # type: ignore[method-assign]  # an API ignoring it
    assert [n["id"] for n in scenario.stale(api, "burnin-")["networks"]] == ["n-mine"]


def test_a_refused_delete_is_one_line_and_the_rest_goes_on():
    deleted: list[str] = []
    api = admin_api(deleted, refuse=frozenset({"n-mine"}))
    warned: list[str] = []
    out = scenario.delete_stale(api, "burnin-", timeout=1, warn=warned.append)
    assert warned == ["network burnin-1 (n-mine) not deleted: 403 rule:delete_network "
                      "is disallowed by policy"]
    assert [(r["id"], r["status"]) for r in out["not_deleted"]] == [("n-mine", 403)]
    json.dumps(out)  # the command prints it
