"""The pure edges of the Neutron LBaaS v2 paths: bodies, views, errors, list queries."""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import errors as octavia
from astara.network_service import errors
from astara.network_service.context import RequestContext
from astara.network_service.lbaasv2 import bodies, faults, lists, views

ANN = RequestContext(project_id="ann", roles=("member",))
ROOT = RequestContext(project_id="root", roles=("admin",))
UUID = "6f1c1b0e-8d4a-4a51-9d7e-3f7d8f0e2a11"


def test_a_body_becomes_the_services_values():
    out = bodies.parse("pools", {"pool": {"listener_id": UUID, "protocol": "HTTP",
                                          "lb_algorithm": "ROUND_ROBIN",
                                          "session_persistence": {}, "tenant_id": "ann"}},
                       ANN, create=True)
    assert out == {"listener_id": UUID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "session_persistence": None, "project_id": "ann"}
    assert bodies.parse("loadbalancers", {"loadbalancer": {"vip_subnet_id": UUID}}, ROOT,
                        create=True)["project_id"] == "root"


@pytest.mark.parametrize(("plural", "body", "create", "message"), [
    ("loadbalancers", {"loadbalancer": {"vip_subnet_id": UUID, "x": 1}}, True,
     "Unrecognized attribute(s) 'x'"),
    ("loadbalancers", {"loadbalancer": {"vip_subnet_id": UUID}}, False,
     "Attribute 'vip_subnet_id' not allowed in PUT"),
    ("members", {"member": {"address": "10.0.0.1", "protocol_port": 80}}, True,
     "Failed to parse request. Required attribute 'subnet_id' not specified"),
    ("listeners", {"listener": {"protocol": "UDP", "protocol_port": 53}}, True,
     "Invalid input for protocol. Reason: 'UDP' is not in "
     "['TCP', 'HTTPS', 'HTTP', 'TERMINATED_HTTPS']."),
    ("loadbalancers", {"loadbalancer": {"vip_subnet_id": UUID, "tenant_id": "ben"}}, True,
     "Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
     "request requires admin privileges"),
    ("loadbalancers", {"loadbalancer": {"vip_subnet_id": UUID, "tenant_id": "a",
                                        "project_id": "b"}}, True,
     "'project_id' and 'tenant_id' do not match"),
    ("pools", {"listener": {}}, True, "Unable to find 'pool' in request body"),
    ("pools", {"pool": []}, True, "Body contains invalid data"),
])
def test_bodies_refused_in_neutrons_words(plural, body, create, message):
    with pytest.raises(errors.BadRequest) as exc:
        bodies.parse(plural, body, ANN, create)
    assert exc.value.status == 400 and exc.value.msg == message


def test_a_monitor_shorter_than_its_timeout_is_refused():
    with pytest.raises(errors.BadRequest) as exc:
        bodies.parse("healthmonitors", {"healthmonitor": {
            "pool_id": UUID, "type": "TCP", "delay": 1, "timeout": 2, "max_retries": 1}},
            ANN, create=True)
    assert exc.value.type == "DelayOrTimeoutInvalid"


def test_values_are_checked_by_the_octavia_checks():
    with pytest.raises(errors.BadRequest) as exc:
        bodies.parse("members", {"member": {"address": "no-ip", "protocol_port": 80,
                                            "subnet_id": UUID}}, ANN, create=True)
    assert exc.value.msg.startswith("Invalid input for field/attribute address.")


def _octavia_pool(**over) -> dict:
    base = {"id": "p", "name": "", "description": "", "project_id": "ann", "tenant_id": "ann",
            "admin_state_up": True, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "session_persistence": {"type": "APP_COOKIE", "cookie_name": "c",
                                    "persistence_timeout": None},
            "members": [{"id": "m"}], "listeners": [], "loadbalancers": [{"id": "lb"}],
            "provisioning_status": "ACTIVE", "operating_status": "ONLINE", "tags": [],
            "created_at": "x", "updated_at": None, "tls_enabled": False}
    return {**base, **over}


def test_views_show_what_neutron_lbaas_shows():
    pool = views.view("pools", _octavia_pool())
    assert pool["healthmonitor_id"] is None and pool["tenant_id"] == "ann"
    assert pool["session_persistence"] == {"type": "APP_COOKIE", "cookie_name": "c"}
    assert not {"tags", "created_at", "provisioning_status", "tls_enabled"} & set(pool)
    hm = views.view("healthmonitors", {
        "id": "h", "name": "", "project_id": "ann", "admin_state_up": True, "type": "PING",
        "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 3,
        "http_method": None, "url_path": None, "expected_codes": None,
        "pools": [{"id": "p"}]})
    assert "url_path" not in hm and hm["pools"] == [{"id": "p"}]


def _status(id_: str, **over) -> dict:
    return {"id": id_, "name": id_, "provisioning_status": "ACTIVE",
            "operating_status": "ONLINE", "admin_state_up": True, **over}


def _model(**over) -> dict:
    model = {"loadbalancer": _status("lb"),
             "listeners": [_status("l1", default_pool_id="p1")],
             "pools": [_status("p1", members=[{"id": "m1"}]), _status("p2", members=[])],
             "members": [_status("m1", address="10.0.0.1", protocol_port=80)],
             "healthmonitors": [_status("h", type="TCP", pools=[{"id": "p2"}])]}
    return {**model, **over}


def test_status_tree_of_a_healthy_load_balancer():
    lb = views.status_tree(_model())["statuses"]["loadbalancer"]
    assert lb["operating_status"] == "ONLINE"
    [listener] = lb["listeners"]
    assert [p["id"] for p in listener["pools"]] == ["p1"] and listener["l7policies"] == []
    assert listener["pools"][0]["members"][0]["address"] == "10.0.0.1"
    assert [p["id"] for p in lb["pools"]] == ["p1", "p2"]
    assert lb["pools"][0]["healthmonitor"] == {}
    assert lb["pools"][1]["healthmonitor"] == {"id": "h", "name": "h", "type": "TCP",
                                               "provisioning_status": "ACTIVE"}


def test_a_disabled_listener_shows_its_pool_disabled_but_the_pool_stays():
    model = _model(listeners=[_status("l1", default_pool_id="p1", admin_state_up=False)])
    lb = views.status_tree(model)["statuses"]["loadbalancer"]
    [listener] = lb["listeners"]
    assert listener["operating_status"] == "DISABLED"
    assert listener["pools"][0]["members"][0]["operating_status"] == "DISABLED"
    assert lb["pools"][0]["operating_status"] == "ONLINE"  # a copy was disabled, not it
    assert lb["operating_status"] == "ONLINE"


def test_a_disabled_load_balancer_shows_only_disabled_listeners():
    model = _model(loadbalancer=_status("lb", admin_state_up=False))
    lb = views.status_tree(model)["statuses"]["loadbalancer"]
    assert "pools" not in lb and lb["operating_status"] == "DISABLED"
    assert lb["listeners"][0]["pools"][0]["operating_status"] == "DISABLED"


def test_a_failed_member_degrades_its_pool_listener_and_load_balancer():
    model = _model(members=[_status("m1", address="10.0.0.1", protocol_port=80,
                                    operating_status="ERROR")])
    lb = views.status_tree(model)["statuses"]["loadbalancer"]
    pool = lb["listeners"][0]["pools"][0]
    assert (lb["operating_status"], lb["listeners"][0]["operating_status"],
            pool["operating_status"], pool["members"][0]["operating_status"]) == (
        "DEGRADED", "DEGRADED", "DEGRADED", "ERROR")


def test_a_monitor_in_error_degrades_an_unattached_pool_and_the_load_balancer():
    model = _model(healthmonitors=[_status("h", type="TCP", pools=[{"id": "p2"}],
                                           provisioning_status="ERROR")])
    lb = views.status_tree(model)["statuses"]["loadbalancer"]
    assert lb["operating_status"] == "DEGRADED"
    assert lb["pools"][1]["operating_status"] == "DEGRADED"
    assert lb["listeners"][0]["operating_status"] == "ONLINE"


def test_an_offline_listener_degrades_only_the_load_balancer():
    model = _model(listeners=[_status("l1", default_pool_id="p1", operating_status="OFFLINE")])
    lb = views.status_tree(model)["statuses"]["loadbalancer"]
    assert lb["operating_status"] == "DEGRADED"
    assert lb["listeners"][0]["operating_status"] == "OFFLINE"


@pytest.mark.parametrize(("exc", "status", "type_", "message"), [
    (octavia.NotOwner("pool", "p1"), 404, "EntityNotFound", "Pool p1 could not be found"),
    (octavia.not_found("healthmonitor", "h1"), 404, "EntityNotFound",
     "HealthMonitor h1 could not be found"),
    (octavia.FrameworkError(404, "Pool p2 not found.", title="Bad Request"), 404,
     "EntityNotFound", "Pool p2 could not be found"),
    (octavia.quota_met("loadbalancer"), 409, "OverQuota",
     "Quota exceeded for resources: ['loadbalancer']."),
    (octavia.validation("Cannot delete Load Balancer x - it has children"), 409,
     "EntityInUse", "Validation failure: Cannot delete Load Balancer x - it has children"),
    (octavia.Conflict("dup"), 409, "Conflict", "dup"),
    (octavia.BadRequest("bad"), 400, "BadRequest", "bad"),
    (octavia.Unavailable("down"), 503, "ServiceUnavailable", "down"),
])
def test_service_errors_as_neutrons(exc, status, type_, message):
    err = faults.neutron(exc)
    assert (err.status, err.body()) == (status, {"NeutronError": {
        "type": type_, "message": message, "detail": ""}})


def test_another_projects_object_without_a_kind_is_the_paths():
    err = faults.neutron(octavia.NotOwner(), ("loadbalancer", "lb1"))
    assert (err.status, err.msg) == (404, "LoadBalancer lb1 could not be found")


def test_list_parameters():
    want = lists.parse("pools", [("loadbalancer_id", "lb"), ("name", "a"), ("listener_id", "l"),
                                 ("sort_key", "name"), ("sort_dir", "desc"), ("limit", "5"),
                                 ("fields", "id,name")], max_page=3)
    assert want.hidden == {"loadbalancer_id": ["lb"]}
    assert want.filters == {"name": ["a"], "listeners": ["l"]}
    assert (want.page.sort, want.page.limit, want.page.fields) == (
        [("name", False)], 3, ["id", "name"])
    assert lists.matches({"name": "a", "listeners": [{"id": "l"}]}, want.filters)
    assert not lists.matches({"name": "a", "listeners": []}, want.filters)


@pytest.mark.parametrize("params", [
    [("color", "red")], [("sort_key", "members")], [("limit", "-1")], [("limit", "x")],
    [("sort_key", "id"), ("sort_dir", "up")], [("sort_key", "id"), ("sort_dir", "asc"),
                                               ("sort_dir", "asc")],
    [("name", "a\x00")], [("name", "a")] * 65,
])
def test_bad_list_parameters_are_400(params):
    with pytest.raises(errors.BadRequest):
        lists.parse("pools", params, max_page=10)
