"""View models and the topology layout: pure tables."""

from __future__ import annotations

import pytest

from astara.dashboard import clients, topology, views


@pytest.mark.parametrize("kind,status,busy,tone", [
    ("server", "BUILD", True, "busy"),
    ("server", "ACTIVE", False, "good"),
    ("server", "SHUTOFF", False, "bad"),
    ("server", "REBOOT", True, "busy"),
    ("router", "BUILD", True, "busy"),
    ("router", "ACTIVE", False, "good"),
    ("router", "ERROR", False, "bad"),
    ("loadbalancer", "PENDING_CREATE", True, "busy"),
    ("router", None, False, "plain"),
])
def test_status_busy_and_tone(kind, status, busy, tone):
    item = {"provisioning_status" if kind == "loadbalancer" else "status": status}
    got = views.status_of(kind, item)
    assert (got["busy"], got["tone"]) == (busy, tone)


def test_server_progress_only_when_a_number():
    assert views.status_of("server", {"status": "BUILD", "progress": 40})["progress"] == 40
    assert views.status_of("server", {"status": "BUILD", "progress": "x"})["progress"] is None
    assert views.status_of("server", {"status": "BUILD", "progress": 0})["progress"] is None


def test_routes_added_once_and_removed():
    r = {"destination": "10.9.0.0/24", "nexthop": "10.0.0.5"}
    once = views.routes_with([], r, add=True)
    assert views.routes_with(once, r, add=True) == [r]
    assert views.routes_with(once, r, add=False) == []
    assert views.parse_route(" 10.9.0.0/24 ", "") is None


def test_router_row_gateway_and_interfaces():
    row = views.router_row({"id": "r1", "name": "", "status": "ACTIVE", "ha": True,
                            "external_gateway_info": {"network_id": "ext", "external_fixed_ips":
                                                      [{"ip_address": "172.24.4.5"}]}},
                           [{"id": "p", "fixed_ips": [{"subnet_id": "s",
                                                       "ip_address": "10.0.0.1"}]}])
    assert row["name"] == "r1" and row["gateway"] == "ext" and row["ha"] is True
    assert row["gateway_ips"] == "172.24.4.5"
    assert row["interfaces"] == [{"port_id": "p", "subnet_id": "s", "ip": "10.0.0.1",
                                  "owner": None}]


@pytest.mark.parametrize("service,status,text,expected", [
    ("network", 409, '{"NeutronError": {"message": "Router in use", "type": "X"}}',
     "The network API says: Router in use"),
    ("compute", 400, '{"badRequest": {"code": 400, "message": "Bad flavor"}}',
     "The compute API says: Bad flavor"),
    ("loadbalancer", 404, '{"faultcode": "Client", "faultstring": "LB gone"}',
     "The load-balancer API says: LB gone"),
    ("rpc", 404, '{"error": {"code": 404, "message": "router x not found"}}',
     "The orchestrator says: router x not found"),
    ("network", 500, "<html>Traceback (most recent call last)</html>",
     "The network API says: failed (HTTP 500)"),
    ("compute", 403, "", "The compute API says: not allowed"),
])
def test_plain_messages(service, status, text, expected):
    assert clients.plain_message(service, status, text) == expected


def test_seg_keeps_an_id_in_one_segment():
    assert clients.seg("../admin") == "%2E%2E%2Fadmin"


def _graph():
    nets = [{"id": "n1", "name": "net1"}, {"id": "ext", "name": "public",
                                           "router:external": True}]
    routers = [{"id": "r1", "name": "rt", "status": "ACTIVE",
                "external_gateway_info": {"network_id": "ext"}}]
    rports = [{"device_id": "r1", "network_id": "n1"}]
    servers = [{"id": "s1", "name": "vm", "status": "BUILD", "addresses": {"net1": []}}]
    lbs = [{"id": "l1", "name": "lb", "provisioning_status": "ACTIVE",
            "vip_network_id": "n1"}]
    ports = [{"id": "p1", "device_id": "s1", "network_id": "n1"},
             {"id": "p2", "device_id": "elsewhere", "network_id": "n1"}]
    fips = [{"id": "f1", "floating_ip_address": "172.24.4.9", "port_id": "p1"}]
    return topology.build(nets, routers, rports, servers, lbs, fips, ports)


def test_topology_nodes_edges_and_links():
    g = _graph()
    nodes = {n["id"]: n for n in g["nodes"]}
    assert {n["kind"] for n in nodes.values()} == {
        "external", "network", "router", "server", "loadbalancer", "floatingip"}
    edges = {(e["from"], e["to"]) for e in g["edges"]}
    assert edges == {("r1", "ext"), ("r1", "n1"), ("s1", "n1"), ("l1", "n1"), ("f1", "s1")}
    assert nodes["s1"]["href"] == "/instances/s1"
    assert nodes["r1"]["href"] == "/routers/r1"
    assert nodes["n1"]["href"] == "/networks/n1"


def test_topology_draws_only_the_external_networks_in_use_without_a_link():
    nets = [{"id": "n1", "name": "net1"},
            {"id": "ext", "name": "public", "router:external": True},
            {"id": "unused", "name": "other-public", "router:external": True}]
    routers = [{"id": "r1", "external_gateway_info": {"network_id": "ext"}},
               {"id": "r2", "external_gateway_info": {"network_id": "unnamed"}}]
    g = topology.build(nets, routers, [], [], [], [], [])
    nodes = {n["id"]: n for n in g["nodes"]}
    assert "unused" not in nodes
    assert nodes["ext"]["kind"] == nodes["unnamed"]["kind"] == "external"
    assert nodes["ext"]["href"] == nodes["unnamed"]["href"] == ""
    assert nodes["ext"]["label"] == "public" and nodes["n1"]["href"] == "/networks/n1"
    assert topology.build(nets, [], [], [], [], [], [])["nodes"] == [
        {"id": "n1", "kind": "network", "label": "net1", "status": "", "href": "/networks/n1",
         "x": topology.COLUMN_X["network"], "y": topology.TOP}]


def test_topology_layout_columns_and_stable_rows():
    g = _graph()
    x = {n["kind"]: n["x"] for n in g["nodes"]}
    assert x["external"] < x["router"] < x["network"] < x["server"] < x["floatingip"]
    # Same input, same picture; a new instance moves none of the others.
    assert _graph() == g
    placed = topology.layout([topology.Node("b", "server", "b", "", ""),
                              topology.Node("a", "server", "a", "", "")])
    assert [(n.id, n.y) for n in placed] == [("a", topology.TOP),
                                             ("b", topology.TOP + topology.ROW_GAP)]


def test_topology_ignores_ports_of_routers_it_does_not_show():
    g = topology.build([{"id": "n1"}], [], [{"device_id": "other", "network_id": "n1"}],
                       [], [], [], [])
    assert g["edges"] == []


def test_admin_router_row_names_the_last_step():
    row = views.admin_router_row({"id": "r", "status": "up", "state": "configured",
                                  "steps": [{"step": "CalcAction"}, {"step": "Alive"}]})
    assert (row["step"], row["state"], row["kind"], row["tenant_id"]) == (
        "Alive", "configured", "router", "-")
    assert views.admin_router_row({"id": "r"})["step"] == "-"


def test_a_dropped_retry_is_not_said_to_be_applied():
    text, kind = views.retry_message({"id": 3, "result": "dropped", "dead_letter": {
        "error": "retry dropped it: not newer: sequence 5 <= 12"}})
    assert kind == "error" and "dropped as stale" in text and "applied" not in text
    assert "not newer" in text
