"""The loadbalancer driver's pure parts: the model endpoint's views -> the appliance's
document, what it refuses, and the statuses it writes back."""

from __future__ import annotations

import pytest
from tests.loadbalancer_world import (
    LB_ID,
    PROJECT,
    VIP_MAC,
    VIP_NET,
    VIP_PORT,
    VIP_SUBNET,
    body,
    lb_view,
    listener,
    member,
    monitor,
    pool,
    vip_records,
    web,
)

from astara.orchestrator.drivers import loadbalancer as lbd
from astara.orchestrator.drivers import loadbalancer_status as status
from astara.orchestrator.drivers.base import Management
from astara.orchestrator.drivers.loadbalancer_map import loadbalancer_section
from astara.wire.appliance_status import (
    ListenerHealth,
    LoadBalancerHealth,
    MemberHealth,
    PoolHealth,
)

MGMT = Management("fa:16:3e:ff:00:01", ("fdca:3ba5:a17a:acda::5/64",), "fdca:3ba5:a17a:acda::1",
                  9697)


def model(revision: int = 1, vip: dict | None = None, lb: dict | None = None,
          **lists) -> lbd.LoadBalancerModel:
    records = vip or vip_records()
    parts = lists or web()
    return lbd.LoadBalancerModel.of(body(revision, lb, **parts),
                                    records.get(("ports", VIP_PORT)),
                                    records.get(("subnets", VIP_SUBNET)),
                                    records.get(("networks", VIP_NET)))


def section(**lists) -> tuple[dict, dict]:
    parts = {"listeners": [], "pools": [], "members": [], "healthmonitors": [], **lists}
    return loadbalancer_section(lb_view(), parts["listeners"], parts["pools"],
                                parts["members"], parts["healthmonitors"])


def test_a_load_balancer_is_a_management_and_a_vip_network_with_its_gateway():
    doc = lbd.build(model(), MGMT).model_dump(mode="json")
    assert doc["hostname"] == f"ak-lb-{LB_ID}" and doc["tenant_id"] == PROJECT
    mgmt, vip = doc["networks"]
    assert mgmt["network_type"] == "management"
    assert mgmt["interface"]["mac_address"] == MGMT.mac_address
    assert vip["network_id"] == VIP_NET and vip["network_type"] == "internal"
    assert vip["interface"] == {"mac_address": VIP_MAC, "addresses": ["192.0.2.10/24"],
                                "mtu": 1450}
    assert [s["cidr"] for s in vip["subnets"]] == ["192.0.2.0/24"]
    assert vip["subnets"][0]["gateway_ip"] == "192.0.2.1"
    assert vip["subnets"][0]["dhcp_enabled"] is False and vip["allocations"] == []
    assert doc["default_v4_gateway"] == "192.0.2.1" and doc["default_v6_gateway"] is None
    assert doc["floating_ips"] == [] and doc["routes"] == []
    assert doc["orchestrator"] == {"address": "fdca:3ba5:a17a:acda::1", "metadata_port": 9697}
    assert doc["loadbalancer"]["id"] == LB_ID
    assert doc["loadbalancer"]["vip_address"] == "192.0.2.10"


def test_listeners_pools_members_and_monitors_are_mapped():
    lb = lbd.build(model(), MGMT).loadbalancer
    assert lb is not None
    http, tcp = lb.listeners
    assert (http.id, http.protocol, http.protocol_port, http.default_pool_id) == \
        ("l-http", "HTTP", 80, "p-http")
    assert http.connection_limit is None  # Octavia's -1
    assert (http.timeout_client_data, http.timeout_member_connect, http.timeout_member_data,
            http.timeout_tcp_inspect) == (50000, 5000, 50000, 0)
    assert (tcp.protocol, tcp.protocol_port, tcp.default_pool_id) == ("TCP", 443, "p-tcp")
    pools = {p.id: p for p in lb.pools}
    assert pools["p-http"].lb_algorithm == "ROUND_ROBIN"
    assert pools["p-tcp"].lb_algorithm == "LEAST_CONNECTIONS"
    assert [(m.id, str(m.address), m.protocol_port) for m in pools["p-http"].members] == [
        ("m-1", "192.0.2.21", 8080), ("m-2", "198.51.100.22", 8080)]
    hm = pools["p-http"].healthmonitor
    assert hm is not None and (hm.id, hm.type, hm.delay, hm.timeout, hm.max_retries,
                               hm.url_path, hm.expected_codes) == \
        ("hm-http", "HTTP", 5, 3, 3, "/healthz", "200")
    assert pools["p-tcp"].healthmonitor is None


@pytest.mark.parametrize("given, expected", [(-1, None), (None, None), (1, 1),
                                             (5000, 5000), (10**7, 1_000_000)])
def test_connection_limit(given, expected):
    doc, refused = section(listeners=[listener("l", connection_limit=given)])
    assert doc["listeners"][0]["connection_limit"] == expected and refused == {}


def test_admin_state_down_is_kept_on_every_object():
    down = {"admin_state_up": False}
    doc, refused = section(
        listeners=[listener("l", pool="p", **down)],
        pools=[pool("p", members=("m",), monitor="hm", **down)],
        members=[member("m", "192.0.2.30", **down)],
        healthmonitors=[monitor("hm", "p", **down)])
    assert refused == {}
    assert doc["listeners"][0]["admin_state_up"] is False
    p = doc["pools"][0]
    assert p["admin_state_up"] is False and p["members"][0]["admin_state_up"] is False
    assert p["healthmonitor"]["admin_state_up"] is False
    lb = lbd.build(model(lb=lb_view(admin_state_up=False)), MGMT).loadbalancer
    assert lb is not None and lb.admin_state_up is False


def test_other_fields_are_mapped_as_the_wire_has_them():
    doc, refused = section(
        listeners=[listener("l", "TCP", 8443, allowed_cidrs=["10.0.0.0/8"],
                            timeout_client_data=10**12)],
        pools=[pool("p", "PROXY", "SOURCE_IP", members=("m",), monitor="hm",
                    session_persistence={"type": "APP_COOKIE", "cookie_name": "sid",
                                         "persistence_timeout": None,
                                         "persistence_granularity": None})],
        members=[member("m", "2001:db8::5", 80, weight=0, backup=True,
                        monitor_address="2001:db8::6", monitor_port=81)],
        healthmonitors=[monitor("hm", "p", "HTTPS", http_version=1.1,
                                domain_name="example.org", expected_codes="200-204")])
    assert refused == {}
    lst = doc["listeners"][0]
    assert lst["allowed_cidrs"] == ["10.0.0.0/8"] and lst["timeout_client_data"] == 86400000
    p = doc["pools"][0]
    assert p["session_persistence"] == {"type": "APP_COOKIE", "cookie_name": "sid"}
    assert p["members"][0] == {"id": "m", "address": "2001:db8::5", "protocol_port": 80,
                               "weight": 0, "admin_state_up": True, "backup": True,
                               "monitor_address": "2001:db8::6", "monitor_port": 81}
    hm = p["healthmonitor"]
    assert (hm["type"], hm["http_version"], hm["domain_name"], hm["expected_codes"]) == \
        ("HTTPS", "1.1", "example.org", "200-204")


def test_a_tcp_monitor_sends_no_http_fields():
    doc, _ = section(pools=[pool("p", "TCP", monitor="hm")],
                     healthmonitors=[monitor("hm", "p", "TCP")])
    hm = doc["pools"][0]["healthmonitor"]
    assert (hm["type"], hm["http_method"], hm["url_path"]) == ("TCP", "GET", "/")  # defaults


@pytest.mark.parametrize("protocol", ["UDP", "SCTP", "PROMETHEUS"])
def test_a_listener_the_appliance_cannot_serve_is_refused(protocol):
    doc, refused = section(listeners=[listener("bad", protocol, 53),
                                      listener("ok", "HTTP", 80)])
    assert [x["id"] for x in doc["listeners"]] == ["ok"]
    assert refused == {"bad": ("listener",
                               f"listener protocol {protocol} is not served (not yet)")}


@pytest.mark.parametrize("protocol, algorithm, why", [
    ("UDP", "ROUND_ROBIN", "pool protocol UDP is not served (not yet)"),
    ("SCTP", "ROUND_ROBIN", "pool protocol SCTP is not served (not yet)"),
    ("TCP", "SOURCE_IP_PORT", "lb_algorithm SOURCE_IP_PORT is not served (not yet)"),
])
def test_a_pool_the_appliance_cannot_serve_is_refused_with_its_members_and_monitor(
        protocol, algorithm, why):
    doc, refused = section(
        listeners=[listener("l", "TCP", 5000, pool="bad")],
        pools=[pool("bad", protocol, algorithm, members=("m",), monitor="hm"),
               pool("ok", "TCP")],
        members=[member("m", "192.0.2.40")],
        healthmonitors=[monitor("hm", "bad", "TCP")])
    assert [p["id"] for p in doc["pools"]] == ["ok"]
    assert refused == {"bad": ("pool", why),
                       "m": ("member", "its pool bad is not served"),
                       "hm": ("healthmonitor", "its pool bad is not served")}
    # The listener stays, without the pool it cannot have.
    assert doc["listeners"][0]["id"] == "l" and doc["listeners"][0]["default_pool_id"] is None


@pytest.mark.parametrize("type_", ["UDP-CONNECT", "SCTP"])
def test_a_monitor_the_appliance_cannot_run_is_refused_and_its_pool_served(type_):
    doc, refused = section(pools=[pool("p", "TCP", members=("m",), monitor="hm")],
                           members=[member("m", "192.0.2.40")],
                           healthmonitors=[monitor("hm", "p", type_)])
    assert doc["pools"][0]["healthmonitor"] is None
    assert [m["id"] for m in doc["pools"][0]["members"]] == ["m"]
    assert refused == {"hm": ("healthmonitor", f"monitor type {type_} is not served "
                                               "(not yet)")}


def test_a_value_the_wire_refuses_refuses_that_object_only():
    doc, refused = section(pools=[pool("p", members=("m-bad", "m-ok"), monitor="hm")],
                           members=[member("m-bad", "not-an-address"),
                                    member("m-ok", "192.0.2.41")],
                           healthmonitors=[monitor("hm", "p", url_path="/has space")])
    p = doc["pools"][0]
    assert [m["id"] for m in p["members"]] == ["m-ok"] and p["healthmonitor"] is None
    assert set(refused) == {"m-bad", "hm"} and refused["m-bad"][0] == "member"
    assert refused["hm"][0] == "healthmonitor" and "url_path" in refused["hm"][1]


def test_what_haproxy_cannot_take_refuses_that_object_only_and_the_rest_is_built():
    """Values the API accepts but the appliance cannot serve end as that object's ERROR,
    never as a document the appliance refuses whole (found in review)."""
    cookie = {"type": "APP_COOKIE", "cookie_name": "my~sess"}
    by_cookie = {"type": "HTTP_COOKIE", "cookie_name": None}
    doc, refused = section(
        listeners=[listener("l-http", pool="p-ok"), listener("l-tcp", "TCP", 81, pool="p-ck")],
        pools=[pool("p-bad", session_persistence=cookie), pool("p-ok", monitor="hm"),
               pool("p-ck", session_persistence=by_cookie)],
        healthmonitors=[monitor("hm", "p-ok", expected_codes="204-200")])
    assert refused["p-bad"][0] == "pool" and "pattern" in refused["p-bad"][1]
    assert refused["hm"][0] == "healthmonitor" and "range" in refused["hm"][1]
    assert refused["l-tcp"] == ("listener", "its default pool p-ck persists by cookie, "
                                "which needs an HTTP listener")
    assert [x["id"] for x in doc["listeners"]] == ["l-http"]
    lbd.build(model(listeners=[listener("l-http", pool="p-ok")],
                    pools=[pool("p-bad", session_persistence=cookie), pool("p-ok")],
                    members=[], healthmonitors=[]), MGMT)  # the document is built


def test_a_pool_over_the_members_an_appliance_serves_keeps_the_first_thousand():
    ids = [f"m-{i:04d}" for i in range(1001)]
    members = [member(m, f"10.{i // 250}.{i % 250}.9") for i, m in enumerate(ids)]
    built = lbd.build(model(listeners=[listener("l", pool="p")],
                            pools=[pool("p", members=tuple(ids))], members=members,
                            healthmonitors=[]), MGMT)
    assert built.loadbalancer is not None
    assert len(built.loadbalancer.pools[0].members) == 1000
    _doc, refused = section(pools=[pool("p", members=tuple(ids))], members=members)
    assert refused == {"m-1000": ("member", "pool p already has the 1000 members an "
                                  "appliance serves")}


def test_two_listeners_on_one_port_keep_the_first():
    doc, refused = section(listeners=[listener("a", port=80), listener("b", "TCP", 80)])
    assert [x["id"] for x in doc["listeners"]] == ["a"]
    assert refused == {"b": ("listener", "port 80 is taken")}


def test_an_ipv6_vip_has_the_v6_gateway():
    records = vip_records("2001:db8:1::10", "2001:db8:1::/64", "2001:db8:1::1")
    doc = lbd.build(model(vip=records, lb=lb_view(vip_address="2001:db8:1::10")), MGMT)
    assert str(doc.default_v6_gateway) == "2001:db8:1::1" and doc.default_v4_gateway is None
    assert [str(a) for a in doc.networks[1].interface.addresses] == ["2001:db8:1::10/64"]


def test_without_its_vip_port_no_document_can_be_built():
    records = vip_records()
    del records[("ports", VIP_PORT)]
    with pytest.raises(ValueError):
        lbd.build(model(vip=records), MGMT)


def health(**members: str) -> LoadBalancerHealth:
    return LoadBalancerHealth(
        id=LB_ID, operating_status="DEGRADED",
        listeners=[ListenerHealth(id="l-http", operating_status="ONLINE"),
                   ListenerHealth(id="l-tcp", operating_status="ONLINE")],
        pools=[PoolHealth(id="p-http", operating_status="DEGRADED",
                          members=[MemberHealth(id=k, operating_status=v)
                                   for k, v in members.items()]),
               PoolHealth(id="p-tcp", operating_status="ONLINE",
                          members=[MemberHealth(id="m-3", operating_status="NO_MONITOR")])])


def test_statuses_active_with_the_operating_statuses_the_appliance_reports():
    got = status.statuses(model(7), health(**{"m-1": "ONLINE", "m-2": "ERROR"}), "ACTIVE")
    assert got["revision"] == 7
    assert got["loadbalancer"] == {"provisioning_status": "ACTIVE",
                                   "operating_status": "DEGRADED"}
    assert got["listeners"] == [
        {"id": "l-http", "provisioning_status": "ACTIVE", "operating_status": "ONLINE"},
        {"id": "l-tcp", "provisioning_status": "ACTIVE", "operating_status": "ONLINE"}]
    assert {m["id"]: m["operating_status"] for m in got["members"]} == {
        "m-1": "ONLINE", "m-2": "ERROR", "m-3": "NO_MONITOR"}
    assert got["pools"][0] == {"id": "p-http", "provisioning_status": "ACTIVE",
                               "operating_status": "DEGRADED"}
    assert got["healthmonitors"] == [{"id": "hm-http", "provisioning_status": "ACTIVE",
                                      "operating_status": "ONLINE"}]


def test_statuses_refused_objects_are_error_and_offline():
    m = model(listeners=[listener("l-udp", "UDP", 53, pool="p-udp")],
              pools=[pool("p-udp", "UDP", members=("m",))],
              members=[member("m", "192.0.2.9")], healthmonitors=[])
    got = status.statuses(m, None, "ACTIVE")
    assert got["loadbalancer"] == {"provisioning_status": "ACTIVE"}
    for plural, oid in (("listeners", "l-udp"), ("pools", "p-udp"), ("members", "m")):
        assert got[plural] == [{"id": oid, "provisioning_status": "ERROR",
                                "operating_status": "OFFLINE"}]


def test_statuses_keep_only_valid_operating_statuses_of_this_load_balancer():
    odd = LoadBalancerHealth(id=LB_ID, operating_status="SOMETHING",
                             listeners=[ListenerHealth(id="l-http", operating_status="UP")])
    got = status.statuses(model(), odd, "ACTIVE")
    assert "operating_status" not in got["loadbalancer"]
    assert "operating_status" not in got["listeners"][0]
    other = LoadBalancerHealth(id="another-lb", operating_status="ONLINE")
    assert "operating_status" not in status.statuses(model(), other, "ACTIVE")["loadbalancer"]


def test_statuses_error_marks_everything_error_without_operating_statuses():
    got = status.statuses(model(3), None, "ERROR")
    assert got["loadbalancer"] == {"provisioning_status": "ERROR"}
    entries = [e for k in ("listeners", "pools", "members", "healthmonitors") for e in got[k]]
    assert len(entries) == 8
    assert all(e["provisioning_status"] == "ERROR" and "operating_status" not in e
               for e in entries)


def test_a_malformed_model_is_no_document_and_all_error():
    from astara.orchestrator.drivers.base import Resource

    broken = model(lb=lb_view(vip_address=None))
    driver = lbd.LoadBalancerDriver(None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        driver.build(Resource(broken, None, (), {}), MGMT)
    records = vip_records()
    del records[("ports", VIP_PORT)]["mac_address"]
    with pytest.raises(ValueError):
        driver.build(Resource(model(vip=records), None, (), {}), MGMT)
    got = status.statuses(broken, None, "ACTIVE")
    assert got["loadbalancer"] == {"provisioning_status": "ERROR"}


def test_monitor_bounds_and_retries_down():
    doc, refused = section(pools=[pool("p", "TCP", monitor="hm")],
                           healthmonitors=[monitor("hm", "p", "PING", delay=100000,
                                                   timeout=0, max_retries_down=5)])
    hm = doc["pools"][0]["healthmonitor"]
    assert (hm["delay"], hm["timeout"], hm["max_retries_down"]) == (86400, 1, 5)
    assert refused == {}


def test_a_default_pool_the_listener_cannot_use_is_left_off_the_listener():
    doc, refused = section(listeners=[listener("l", "HTTP", 80, pool="p")],
                           pools=[pool("p", "TCP")])
    assert doc["listeners"][0]["default_pool_id"] is None
    assert [p["id"] for p in doc["pools"]] == ["p"] and refused == {}
