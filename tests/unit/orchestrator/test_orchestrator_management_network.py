"""The management network is found among the service project's networks only: a
tenant's network carrying its name is never taken for it."""

import json

import httpx

from astara.orchestrator import management
from astara.orchestrator import opts as orch_opts


def _api(networks: list[dict], made: list[dict]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"networks": networks})
        body = json.loads(request.content)
        made.append(body)
        if request.url.path.endswith("/networks"):
            return httpx.Response(201, json={"network": {"id": "new-net", **body["network"]}})
        return httpx.Response(201, json={"subnet": {"id": "new-sub"}})
    return httpx.Client(base_url="http://net", transport=httpx.MockTransport(handle))


def test_a_tenants_network_named_like_it_is_ignored_and_ours_is_made(caplog):
    o = orch_opts.defaults()
    made: list[dict] = []
    tenant = {"id": "evil", "name": o.management_network_name, "project_id": "tenant-a"}
    with _api([tenant], made) as http:
        assert management.ensure_network(o, http) == "new-net"
    assert made[0]["network"]["name"] == o.management_network_name
    assert "evil" in caplog.text and "not ours" in caplog.text


def test_ours_is_found_beside_a_tenants():
    o = orch_opts.defaults()
    made: list[dict] = []
    nets = [{"id": "evil", "name": o.management_network_name, "project_id": "tenant-a"},
            {"id": "ours", "name": o.management_network_name,
             "project_id": o.service_project_id}]
    with _api(nets, made) as http:
        assert management.ensure_network(o, http) == "ours"
    assert made == []


def test_members_that_made_one_each_at_once_keep_the_oldest():
    o = orch_opts.defaults()
    calls: list[tuple[str, str]] = []
    lists = iter([[], [
        {"id": "new-net", "name": o.management_network_name, "created_at": "2026-12-03T06:00:01Z",
         "project_id": o.service_project_id},
        {"id": "theirs", "name": o.management_network_name, "created_at": "2026-12-03T06:00:00Z",
         "project_id": o.service_project_id}]])

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if request.method == "GET":
            return httpx.Response(200, json={"networks": next(lists)})
        if request.method == "DELETE":
            return httpx.Response(204)
        if request.url.path.endswith("/networks"):
            return httpx.Response(201, json={"network": {"id": "new-net"}})
        return httpx.Response(201, json={"subnet": {"id": "new-sub"}})

    with httpx.Client(base_url="http://net", transport=httpx.MockTransport(handle)) as http:
        assert management.ensure_network(o, http) == "theirs"
    assert ("DELETE", "/v2.0/networks/new-net") in calls
