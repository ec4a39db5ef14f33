"""The loadbalancer driver's L7 mapping: the model's L7 policies and rules -> the wire's
``L7Policy``/``L7Rule`` under each listener, what it refuses or leaves out, the
statuses written back, and the haproxy text the appliance renders from it."""

from __future__ import annotations

from pathlib import Path

from tests.loadbalancer_world import (
    PROJECT,
    VIP_NET,
    VIP_PORT,
    VIP_SUBNET,
    _common,
    body,
    lb_view,
    listener,
    pool,
    vip_records,
)

from astara.appliance.render.haproxy import render
from astara.orchestrator.drivers import loadbalancer as lbd
from astara.orchestrator.drivers import loadbalancer_status as status
from astara.orchestrator.drivers.base import Management
from astara.orchestrator.drivers.loadbalancer_map import loadbalancer_section
from astara.wire.loadbalancer_config import LoadBalancer

MGMT = Management("fa:16:3e:ff:00:01", ("fdca:3ba5:a17a:acda::5/64",), "fdca:3ba5:a17a:acda::1",
                  9697)


def policy(oid: str, listener_id: str, action: str, position: int, **kw) -> dict:
    out = {**_common(oid), "description": "", "action": action, "listener_id": listener_id,
           "redirect_pool_id": None, "redirect_url": None, "redirect_prefix": None,
           "position": position, "rules": [], "redirect_http_code": None}
    if action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
        out["redirect_http_code"] = 302
    out.update(kw)
    return out


def rule(oid: str, policy_id: str, type_: str, compare: str, value: str, **kw) -> dict:
    out = {**_common(oid), "type": type_, "compare_type": compare, "key": None,
           "value": value, "invert": False, "l7policy_id": policy_id, **kw}
    del out["name"]
    return out


def graph() -> dict[str, list[dict]]:
    """An HTTP listener with a default pool, an API pool and three policies."""
    return {
        "listeners": [listener("l-http", pool="p-web"), listener("l-tcp", "TCP", 443)],
        "pools": [pool("p-web"), pool("p-api")],
        "members": [], "healthmonitors": [],
        "l7policies": [
            policy("po-url", "l-http", "REDIRECT_TO_URL", 2,
                   redirect_url="https://example.com/", redirect_http_code=301),
            policy("po-api", "l-http", "REDIRECT_TO_POOL", 1, redirect_pool_id="p-api"),
            policy("po-deny", "l-http", "REJECT", 3),
        ],
        "l7rules": [
            rule("r-host", "po-url", "HOST_NAME", "EQUAL_TO", "old.example.com"),
            rule("r-path", "po-api", "PATH", "STARTS_WITH", "/api"),
            rule("r-hdr", "po-deny", "HEADER", "EQUAL_TO", "blocked", key="X-Test",
                 invert=True),
            rule("r-cookie", "po-deny", "COOKIE", "CONTAINS", "bad", key="session"),
        ],
    }


def section(parts: dict) -> tuple[dict, dict]:
    return loadbalancer_section(lb_view(), parts["listeners"], parts["pools"],
                                parts["members"], parts["healthmonitors"],
                                parts["l7policies"], parts["l7rules"])


def model(parts: dict, revision: int = 4) -> lbd.LoadBalancerModel:
    records = vip_records()
    return lbd.LoadBalancerModel.of(body(revision, **parts), records[("ports", VIP_PORT)],
                                    records[("subnets", VIP_SUBNET)],
                                    records[("networks", VIP_NET)])


def test_policies_and_rules_go_under_their_listener_in_position_order():
    doc, refused = section(graph())
    assert refused == {}
    http = next(x for x in doc["listeners"] if x["id"] == "l-http")
    assert [p["id"] for p in http["l7policies"]] == ["po-api", "po-url", "po-deny"]
    api, url, deny = http["l7policies"]
    assert (api["action"], api["redirect_pool_id"], api["position"]) == \
        ("REDIRECT_TO_POOL", "p-api", 1)
    assert (url["redirect_url"], url["redirect_http_code"]) == ("https://example.com/", 301)
    assert [(r["id"], r["type"], r["compare_type"], r["key"], r["value"], r["invert"])
            for r in deny["rules"]] == [("r-hdr", "HEADER", "EQUAL_TO", "X-Test", "blocked",
                                         True),
                                        ("r-cookie", "COOKIE", "CONTAINS", "session", "bad",
                                         False)]
    assert url["rules"][0]["key"] is None  # a host rule names no header
    tcp = next(x for x in doc["listeners"] if x["id"] == "l-tcp")
    assert tcp["l7policies"] == []
    LoadBalancer.model_validate(doc)  # what the appliance receives is valid as a whole


def test_the_rendered_haproxy_redirects_sends_to_the_pool_and_rejects():
    doc, _ = section(graph())
    text = render(LoadBalancer.model_validate(doc), Path("/tmp/lb"))
    assert "acl r-path path -m beg -- /api" in text
    assert "http-request set-var(txn.l7pool) str(p-api:http) if r-path" in text
    assert "http-request redirect code 301 location https://example.com/ if r-host" in text
    assert "http-request deny if !r-hdr r-cookie" in text
    assert text.index("set-var(txn.l7pool)") < text.index("redirect code 301") < \
        text.index("http-request deny")


def test_disabled_policies_and_rules_are_left_out_not_refused():
    parts = graph()
    parts["l7policies"][2]["admin_state_up"] = False  # po-deny
    parts["l7rules"][0]["admin_state_up"] = False  # r-host
    doc, refused = section(parts)
    assert refused == {}
    http = next(x for x in doc["listeners"] if x["id"] == "l-http")
    assert [p["id"] for p in http["l7policies"]] == ["po-api", "po-url"]
    assert http["l7policies"][1]["rules"] == []
    got = status.statuses(model(parts), None, "ACTIVE")
    assert {e["id"]: e["operating_status"] for e in got["l7policies"]} == {
        "po-api": "ONLINE", "po-url": "ONLINE", "po-deny": "OFFLINE"}
    assert {e["id"]: e["operating_status"] for e in got["l7rules"]} == {
        "r-host": "OFFLINE", "r-path": "ONLINE", "r-hdr": "OFFLINE", "r-cookie": "OFFLINE"}
    assert all(e["provisioning_status"] == "ACTIVE" for e in got["l7policies"] + got["l7rules"])


def test_what_cannot_be_served_is_refused_with_what_hangs_on_it():
    parts = graph()
    parts["pools"][1]["lb_algorithm"] = "SOURCE_IP_PORT"  # p-api is not served
    parts["l7rules"].append(rule("r-ssl", "po-url", "SSL_CONN_HAS_CERT", "EQUAL_TO", "x"))
    parts["l7rules"].append(rule("r-space", "po-url", "PATH", "EQUAL_TO", "a b"))
    doc, refused = section(parts)
    assert refused["po-api"] == ("l7policy", "its pool p-api is not served")
    assert refused["r-path"] == ("l7rule", "its L7 policy po-api is not served")
    assert refused["r-ssl"][0] == "l7rule" and "not served" in refused["r-ssl"][1]
    assert refused["r-space"][0] == "l7rule"
    http = next(x for x in doc["listeners"] if x["id"] == "l-http")
    assert [p["id"] for p in http["l7policies"]] == ["po-url", "po-deny"]
    assert [r["id"] for r in http["l7policies"][0]["rules"]] == ["r-host"]
    got = status.statuses(model(parts), None, "ACTIVE")
    entries = {e["id"]: e for e in got["l7policies"] + got["l7rules"]}
    assert entries["po-api"] == {"id": "po-api", "provisioning_status": "ERROR",
                                 "operating_status": "OFFLINE"}
    assert entries["r-ssl"]["provisioning_status"] == "ERROR"
    assert entries["po-url"]["provisioning_status"] == "ACTIVE"


def test_a_refused_listener_refuses_its_policies_and_rules():
    parts = graph()
    parts["listeners"][0]["protocol"] = "PROMETHEUS"
    doc, refused = section(parts)
    assert [x["id"] for x in doc["listeners"]] == ["l-tcp"]
    assert {k for k, (kind, _) in refused.items() if kind in ("l7policy", "l7rule")} == {
        "po-url", "po-api", "po-deny", "r-host", "r-path", "r-hdr", "r-cookie"}
    parts = graph()  # policies on a TCP listener (the API never makes them)
    for view in parts["l7policies"]:
        view["listener_id"] = "l-tcp"
    doc, refused = section(parts)
    assert refused["po-deny"] == ("l7policy", "L7 policies need an HTTP listener")
    assert all(x["l7policies"] == [] for x in doc["listeners"])


def test_a_push_refused_is_error_without_operating_statuses():
    got = status.statuses(model(graph(), 9), None, "ERROR")
    assert got["revision"] == 9
    assert all(e == {"id": e["id"], "provisioning_status": "ERROR"}
               for e in got["l7policies"] + got["l7rules"])
    assert len(got["l7policies"]) == 3 and len(got["l7rules"]) == 4


def test_the_built_document_carries_them():
    doc = lbd.build(model(graph()), MGMT).model_dump(mode="json")
    http = next(x for x in doc["loadbalancer"]["listeners"] if x["id"] == "l-http")
    assert len(http["l7policies"]) == 3
    assert doc["tenant_id"] == PROJECT
