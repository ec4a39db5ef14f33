"""The network client against a real Neutron (no ``astara_model`` route, read-only
status), served the captured answers of Neutron 29.0.0 (tests/data/neutron/api)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.drivers.router import Management, build

API = Path(__file__).parents[2] / "data" / "neutron" / "api"
ROUTER = "c61d6b42-85ba-4431-a014-539ade35216c"
# What neutron-server 29.0.0 answered (tools/neutron-loopback) for a route it lacks and
# for a PUT of a router's status.
NO_ROUTE = {"NeutronError": {"type": "HTTPNotFound", "detail": "",
                             "message": "The resource could not be found."}}
READ_ONLY = {"NeutronError": {"type": "HTTPBadRequest", "detail": "",
                              "message": "Cannot update read-only attribute status"}}


def load(name: str) -> dict:
    return json.loads((API / name).read_text())


def neutron(seen: list[str], planted: tuple[dict, ...] = ()):
    """Neutron's filters: a repeated query parameter is a list of accepted values;
    ``planted`` ports are added to Neutron's ports (and their subnet and network)."""
    def pick(items: list[dict], request: httpx.Request, key: str) -> list[dict]:
        wanted = request.url.params.get_list(key)
        return [x for x in items if x[key] in wanted]

    def handle(request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        seen.append(f"{request.method} {path}?{'&'.join(sorted(params.keys()))}")
        if path.endswith("/astara_model"):
            return httpx.Response(404, json=NO_ROUTE)
        if request.method == "PUT":
            return httpx.Response(400, json=READ_ONLY)
        if path == f"/v2.0/routers/{ROUTER}":
            return httpx.Response(200, json=load("router_admin.json"))
        ports = load("ports_all_as_admin.json")["ports"] + list(planted)
        if path == "/v2.0/ports":
            for key in ("device_id", "device_owner", "network_id"):
                if key in params:
                    ports = pick(ports, request, key)
            return httpx.Response(200, json={"ports": ports})
        if path == "/v2.0/subnets":
            return httpx.Response(200, json={"subnets": pick(
                load("subnets.json")["subnets"] + [EVIL_SUBNET], request, "id")})
        if path == "/v2.0/networks":
            return httpx.Response(200, json={"networks": pick(
                load("networks_as_admin.json")["networks"] + [EVIL_NET], request, "id")})
        if path == "/v2.0/floatingips":
            return httpx.Response(200, json={"floatingips": pick(
                load("floatingips.json")["floatingips"], request, "router_id")})
        return httpx.Response(404, json=NO_ROUTE)
    return handle


def client(seen: list[str], planted: tuple[dict, ...] = ()) -> HttpNetworkAPI:
    c = HttpNetworkAPI("http://neutron.invalid:9696", "mgmt", {})
    c._http = httpx.Client(base_url="http://neutron.invalid:9696/v2.0",
                           transport=httpx.MockTransport(neutron(seen, planted)))
    return c


# Another project's network (or one shared with the router's project by RBAC), where
# its owner may label ports with any ``network:*`` owner and any device id.
EVIL_NET = {"id": "evil-net", "mtu": 1500, "project_id": "attacker"}
EVIL_SUBNET = {"id": "evil-sub", "cidr": "192.0.2.0/24", "gateway_ip": "192.0.2.1",
               "network_id": "evil-net", "enable_dhcp": False, "ip_version": 4}


def planted_port(id_: str, owner: str, ip: str, **over) -> dict:
    return {"id": id_, "device_id": ROUTER, "device_owner": owner, "project_id": "attacker",
            "tenant_id": "attacker", "network_id": "evil-net", "mac_address":
            "fa:16:3e:66:66:66", "admin_state_up": True, "status": "ACTIVE",
            "fixed_ips": [{"subnet_id": "evil-sub", "ip_address": ip}], **over}


PLANTED = (
    planted_port("evil-gw", "network:router_gateway", "192.0.2.5"),
    # a gateway label with no project on the external network, but not the router's IPs
    planted_port("evil-gw2", "network:router_gateway", "172.24.4.99", project_id="",
                 network_id="6b455a89-fa2d-4333-86d3-4d402a4ddb38"),
    planted_port("evil-mgmt", "network:astara_management", "192.0.2.6"),
    # an interface label on an RBAC-shared network, from a project not the router's
    # (Neutron refuses it to a non-admin; an admin-made one is not the router's either)
    planted_port("evil-if", "network:router_interface", "192.0.2.7"),
)


def test_a_routers_model_from_neutrons_lists_in_six_calls_after_one_probe():
    seen: list[str] = []
    c = client(seen)
    try:
        first = c.router_model(ROUTER)
        assert seen[0] == f"GET /v2.0/routers/{ROUTER}/astara_model?"
        seen.clear()
        model = c.router_model(ROUTER)
    finally:
        c.close()
    assert model == first
    assert seen == [f"GET /v2.0/routers/{ROUTER}?", "GET /v2.0/ports?device_id",
                    "GET /v2.0/subnets?id", "GET /v2.0/networks?id",
                    "GET /v2.0/floatingips?router_id", "GET /v2.0/ports?network_id"]
    assert sorted(p["device_owner"] for p in model.ports) == [
        "network:router_gateway", "network:router_interface"]
    assert sorted(model.subnets) == sorted(s["id"] for s in load("subnets.json")["subnets"])
    assert [p["fixed_ips"][0]["ip_address"] for p in model.tenant_ports] == ["10.0.0.153"]
    # What the router driver makes of it: gateway, interface, the floating IP.
    doc = build(model, Management("fa:16:3e:aa:bb:cc", ("fdca::5/64",), "fdca::1", 9697))
    d = doc.model_dump(mode="json")
    kinds = {n["network_type"]: n for n in d["networks"]}
    assert kinds["external"]["interface"]["addresses"] == ["172.24.4.70/24"]
    assert kinds["internal"]["interface"]["addresses"] == ["10.0.0.1/24"]
    assert d["default_v4_gateway"] == "172.24.4.1"
    assert [(f["floating_ip"], f["fixed_ip"]) for f in d["floating_ips"]] == [
        ("172.24.4.91", "10.0.0.153")]


def test_ports_another_project_labels_as_the_routers_are_left_out_and_named(caplog):
    seen: list[str] = []
    c = client(seen, PLANTED)
    try:
        with caplog.at_level("WARNING"):
            model = c.router_model(ROUTER)
            c.router_model(ROUTER)
        mgmt = c.management_port(ROUTER, create=False)
    finally:
        c.close()
    assert sorted((p["device_owner"], p["project_id"]) for p in model.ports) == [
        ("network:router_gateway", ""),
        ("network:router_interface", "d0000000000000000000000000000000")]
    assert "evil-sub" not in model.subnets and "evil-net" not in model.networks
    assert mgmt is None  # not on the management network: not the router's
    warned = [r.getMessage() for r in caplog.records if "ignoring ports" in r.getMessage()]
    assert len(warned) == 1  # once, naming each
    assert all(f"evil-{k}" in warned[0] for k in ("gw ", "gw2", "mgmt", "if"))
    d = build(model, Management("fa:16:3e:aa:bb:cc", ("fdca::5/64",), "fdca::1", 9697)
              ).model_dump(mode="json")
    ext = [n for n in d["networks"] if n["network_type"] == "external"]
    assert [n["interface"]["addresses"] for n in ext] == [["172.24.4.70/24"]]
    assert d["default_v4_gateway"] == "172.24.4.1"


def test_a_gone_router_is_none_not_an_error():
    seen: list[str] = []
    c = client(seen)
    gone = "00000000-0000-0000-0000-000000000000"
    try:
        assert c.router_model(gone) is None
    finally:
        c.close()
    # None because the router's own record is gone, after the probe chose the lists
    assert seen == [f"GET /v2.0/routers/{gone}/astara_model?", f"GET /v2.0/routers/{gone}?"]
    assert c._has_model_route is False


def answers(*replies: tuple[str, int, dict]):
    """A network API answering each path from a script: (path, status, body), in order."""
    script = list(replies)
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        path, status, body = script.pop(0)
        assert request.url.path == path
        return httpx.Response(status, json=body)
    c = HttpNetworkAPI("http://net.invalid", "mgmt", {})
    c._http = httpx.Client(base_url="http://net.invalid/v2.0",
                           transport=httpx.MockTransport(handle))
    return c, script


MODEL = f"/v2.0/routers/{ROUTER}/astara_model"
ROUTER_PATH = f"/v2.0/routers/{ROUTER}"
ONE_READ = {"router": {"id": ROUTER}, "ports": [], "subnets": [], "networks": [],
            "floatingips": [], "tenant_ports": []}
ROUTER_GONE = {"NeutronError": {"type": "RouterNotFound", "message": "gone"}}


@pytest.mark.parametrize("status", [400, 401, 403, 429])
def test_a_refused_probe_is_an_error_of_that_call_not_a_mode_switch(status):
    c, script = answers((MODEL, status, {"error": "no"}), (MODEL, 200, ONE_READ))
    with pytest.raises(RemoteError):
        c.router_model(ROUTER)
    assert c._has_model_route is None
    assert c.router_model(ROUTER).router["id"] == ROUTER  # asked again: the one read
    assert c._has_model_route is True and not script


def test_once_the_route_works_a_bare_404_is_checked_against_the_router():
    c, script = answers((MODEL, 200, ONE_READ), (MODEL, 404, NO_ROUTE),
                        (ROUTER_PATH, 200, {"router": {"id": ROUTER}}),
                        (MODEL, 404, NO_ROUTE), (ROUTER_PATH, 404, ROUTER_GONE),
                        (MODEL, 403, {}))
    c.router_model(ROUTER)
    with pytest.raises(RemoteError):  # the router is there: not gone, and no switch
        c.router_model(ROUTER)
    assert c.router_model(ROUTER) is None  # its record says it is gone
    with pytest.raises(RemoteError):
        c.router_model(ROUTER)
    assert c._has_model_route is True and not script


def test_our_apis_router_not_found_is_gone_without_a_second_call():
    c, script = answers((MODEL, 404, ROUTER_GONE))
    assert c.router_model(ROUTER) is None
    assert c._has_model_route is True and not script


def test_neutrons_read_only_router_status_is_asked_once_then_kept_here():
    seen: list[str] = []
    c = client(seen)
    try:
        c.set_router_status(ROUTER, "ACTIVE")
        c.set_router_status(ROUTER, "ERROR")
    finally:
        c.close()
    # (its extensions asked once: none listed, no status tag: test_orchestrator_status_tags)
    assert seen == [f"PUT /v2.0/routers/{ROUTER}?", "GET /v2.0/extensions?"]


def test_neutrons_read_only_port_status_says_nothing_was_written():
    seen: list[str] = []
    c = client(seen)
    try:
        assert c.set_port_status("p1", "ACTIVE") is False
        assert c.set_port_status("p2", "ACTIVE") is False
    finally:
        c.close()
    assert seen == ["PUT /v2.0/ports/p1?"]


def test_a_neutron_ha_router_is_refused_with_its_reason_before_any_port_is_read(caplog):
    from astara.orchestrator.drivers.router import RouterDriver
    router = load("router_admin.json")
    router["router"]["ha"] = True
    c, script = answers((MODEL, 404, NO_ROUTE), (ROUTER_PATH, 200, router))
    with caplog.at_level("ERROR"):
        res = RouterDriver(c).read(ROUTER)
    assert not script  # no port, subnet or network asked for
    assert res is not None and res.mgmt_port is None and res.ports == ()
    assert res.refused is not None and "l3_ha = False" in res.refused
    assert any("Neutron ha router" in r.getMessage() for r in caplog.records)


def test_id_lists_go_fifty_a_call_and_next_page_links_are_followed():
    """A router on 120 subnets of one network, and a Neutron answering two ports a page
    (``pagination_max_limit = 2``) with its ``ports_links``."""
    router = load("router_admin.json")["router"]
    project = router["project_id"]
    subnets = [{"id": f"s{i:03}", "network_id": "n1", "cidr": f"10.{i}.0.0/24",
                "gateway_ip": f"10.{i}.0.1", "enable_dhcp": True, "ip_version": 4}
               for i in range(120)]
    ports = [{"id": f"p{i:03}", "device_id": ROUTER, "device_owner": "network:router_interface",
              "project_id": project, "network_id": "n1", "mac_address": "fa:16:3e:00:00:01",
              "fixed_ips": [{"subnet_id": s["id"], "ip_address": s["gateway_ip"]}]}
             for i, s in enumerate(subnets)]
    asked: list[tuple[str, list[str]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        if path.endswith("/astara_model"):
            return httpx.Response(404, json=NO_ROUTE)
        if path == ROUTER_PATH:
            return httpx.Response(200, json={"router": router})
        if path == "/v2.0/ports" and "device_id" in params:
            start = int(params.get("marker", "p-01")[1:]) + 1
            page = ports[start:start + 2]
            links = ([{"rel": "next", "href": f"http://net.invalid/v2.0/ports?device_id="
                       f"{ROUTER}&limit=2&marker={page[-1]['id']}"}]
                     if start + 2 < len(ports) else [])
            asked.append(("page", [params.get("marker", "")]))
            return httpx.Response(200, json={"ports": page, "ports_links": links})
        key = path.rsplit("/", 1)[1]
        field = "id" if key != "ports" else "network_id"
        asked.append((key, params.get_list(field)))
        items = {"subnets": subnets, "networks": [{"id": "n1", "mtu": 1500}],
                 "ports": [], "floatingips": []}[key]
        wanted = params.get_list(field) or params.get_list("router_id")
        return httpx.Response(200, json={key: [x for x in items
                                               if x.get(field, ROUTER) in wanted]})
    c = HttpNetworkAPI("http://net.invalid", "mgmt", {})
    c._http = httpx.Client(base_url="http://net.invalid/v2.0",
                           transport=httpx.MockTransport(handle))
    model = c.router_model(ROUTER)
    assert len(model.ports) == 120 and len(model.subnets) == 120
    assert sum(1 for k, _ in asked if k == "page") == 60  # every page, once
    assert [len(ids) for k, ids in asked if k == "subnets"] == [50, 50, 20]
