"""The clients' lists the HA sweep relies on read every page (a server's ``max_limit``
must not make a live router look gone), and management ports only on our network."""

from __future__ import annotations

import json

import httpx

from astara.orchestrator.clients import compute as compute_client
from astara.orchestrator.clients.compute import HttpComputeAPI
from astara.orchestrator.clients.network import HttpNetworkAPI

MGMT = "mgmt-net"


def _network(handler) -> HttpNetworkAPI:
    api = HttpNetworkAPI("http://network.invalid", MGMT, {})
    api._http = httpx.Client(base_url="http://network.invalid/v2.0",
                             transport=httpx.MockTransport(handler))
    return api


def _compute(handler) -> HttpComputeAPI:
    api = HttpComputeAPI("http://compute.invalid", {}, "img", "1")
    api._http = httpx.Client(base_url="http://compute.invalid/v2.1",
                             transport=httpx.MockTransport(handler))
    return api


def test_routers_follow_the_next_links():
    rows = [{"id": f"r{i}", "project_id": "p"} for i in range(5)]

    def neutron(request: httpx.Request) -> httpx.Response:
        marker = request.url.params.get("marker")
        start = 0 if marker is None else int(marker[1:]) + 1
        page = rows[start:start + 2]  # pagination_max_limit = 2
        links = [{"rel": "next", "href": f"http://network.invalid/v2.0/routers?limit=2&"
                  f"marker={page[-1]['id']}"}] if start + 2 < len(rows) else []
        return httpx.Response(200, json={"routers": page, "routers_links": links})

    api = _network(neutron)
    try:
        assert [r.id for r in api.routers()] == [r["id"] for r in rows]
    finally:
        api.close()


def test_management_device_ids_are_read_on_the_management_network_only():
    asked = []

    def neutron(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json={"ports": [{"device_id": "r1.ha1"}]})

    api = _network(neutron)
    try:
        assert api.management_device_ids() == ["r1.ha1"]
        api.management_port("r1.ha1", create=False)
    finally:
        api.close()
    assert [a.get("network_id") for a in asked] == [MGMT, MGMT]



def test_a_management_port_known_absent_is_made_without_a_lookup():
    asked = []

    def neutron(request: httpx.Request) -> httpx.Response:
        asked.append((request.method, dict(request.url.params)))
        if request.method == "POST":
            return httpx.Response(201, json={"port": {"id": "m1", **json.loads(
                request.content)["port"]}})
        return httpx.Response(200, json={"ports": [{"id": "m0"}]})

    api = _network(neutron)
    try:
        made = api.management_port("r1", create=True, absent=True)
        found = api.management_port("r1", create=True)  # not known absent: looked up
    finally:
        api.close()
    assert made["id"] == "m1" and made["network_id"] == MGMT and made["device_id"] == "r1"
    assert found["id"] == "m0"
    assert [m for m, _ in asked] == ["POST", "GET"]


def test_server_groups_are_read_page_by_page(monkeypatch):
    monkeypatch.setattr(compute_client, "GROUP_PAGE", 2)
    groups = [{"id": f"g{i}", "name": f"n{i}", "members": []} for i in range(5)]
    asked = []

    def nova(request: httpx.Request) -> httpx.Response:  # Nova: limit and offset
        asked.append(request.url.params.get("offset"))
        off, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return httpx.Response(200, json={"server_groups": groups[off:off + limit]})

    api = _compute(nova)
    try:
        assert api.server_group("n4", create=False) == ("g4", ())
    finally:
        api.close()
    assert asked == ["0", "2", "4"]


def test_server_groups_stop_when_the_api_ignores_the_pages(monkeypatch):
    monkeypatch.setattr(compute_client, "GROUP_PAGE", 2)
    groups = [{"id": f"g{i}", "name": f"n{i}", "members": []} for i in range(3)]
    asked = []

    def ours(request: httpx.Request) -> httpx.Response:  # every group, each time
        asked.append(request.url.params.get("offset"))
        return httpx.Response(200, json={"server_groups": groups})

    api = _compute(ours)
    try:
        assert api.server_group("n2", create=False) == ("g2", ())
    finally:
        api.close()
    assert asked == ["0", "2"]
