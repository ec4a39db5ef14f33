"""The compute client's HA parts: the ``different_host`` hint on a boot, and a port with
no address (an HA member's) counted as plugged from the server's interfaces."""

from __future__ import annotations

import json

import httpx

from astara.orchestrator.clients.compute import HttpComputeAPI
from astara.orchestrator.drivers.router import NAMING

R = "0b6f5a4e-1c1d-4c4e-9e55-1f0a6a3e2b11"
PEER = "7c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def _api(handler) -> HttpComputeAPI:
    api = HttpComputeAPI("http://compute.invalid", {}, "img", "1")
    api._http = httpx.Client(base_url="http://compute.invalid/v2.1",
                             transport=httpx.MockTransport(handler))
    api._refs = {"images:img": "img", "flavors:1": "1"}
    return api


def test_boot_sends_the_hint_only_when_asked():
    bodies = []

    def nova(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(202, json={"server": {"id": "s1"}})

    api = _api(nova)
    try:
        api.boot(NAMING.identity(R), ["p1"], "req-1")
        api.boot(NAMING.identity(R), ["p1"], "req-2", different_host=(PEER,))
    finally:
        api.close()
    assert "os:scheduler_hints" not in bodies[0]
    assert bodies[1]["os:scheduler_hints"] == {"different_host": [PEER]}


def test_a_port_without_address_is_seen_through_the_interfaces():
    server = {"id": "s1", "name": f"ak-{R}", "status": "ACTIVE", "hostId": "h1",
              "metadata": {"astara_router_id": R}, "created": "2026-01-01T00:00:00Z",
              "addresses": {"mgmt": [{"addr": "fdca::5", "OS-EXT-IPS-MAC:mac_addr": "m0"}]}}
    asked = []

    def nova(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path.endswith("/os-interface"):
            return httpx.Response(200, json={"interfaceAttachments": [
                {"port_id": "mgmt", "mac_addr": "m0"}, {"port_id": "ha", "mac_addr": "m1"},
                {"port_id": "foreign", "mac_addr": "m9"}]})
        return httpx.Response(200, json={"servers": [server]})

    api = _api(nova)
    try:
        inst = api.find(NAMING.identity(R), {"m0": "mgmt", "m1": "ha"})
        assert inst.ports == frozenset({"mgmt", "ha"}) and inst.host_id == "h1"
        asked.clear()
        assert api.find(NAMING.identity(R), {"m0": "mgmt"}).ports == frozenset({"mgmt"})
        assert asked == ["/v2.1/servers/detail"]  # all seen: no second call
    finally:
        api.close()
