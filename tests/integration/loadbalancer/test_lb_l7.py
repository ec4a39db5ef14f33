"""L7 policies and rules through openstacksdk and raw HTTP: Octavia's fields, defaults,
positions, errors (captures 027-030, 033, 040), lists, scoping, quotas, notifications,
the deletes that take them along, and what the orchestrator's endpoints show of them."""

from __future__ import annotations

import json

import pytest
from openstack import exceptions as sdk_exc
from sqlalchemy import func, select

from astara.bus.outbox import OutboxRow
from tests.integration.loadbalancer import captures

CAPTURED_LISTENER = "e155d1e2-b3c7-4aeb-8bb5-8791535ebc1b"
CAPTURED_POOL = "15f5ffa1-6dbd-4274-9b2d-c0661de1548e"
CAPTURED_POLICY = "2ae5bffb-74f1-42f2-abb7-78e3901f9afa"
MOVING = ("id", "project_id", "tenant_id", "created_at", "updated_at", "listener_id",
          "redirect_pool_id", "provisioning_status", "operating_status", "rules", "position")


def _sent(step: str, index: int, **ids: str) -> dict:
    text = json.dumps(captures.call(step, index)["request_body"])
    for old, new in ids.items():
        text = text.replace(old, new)
    return json.loads(text)


@pytest.fixture
def http_lb(alice, subnet):
    """A load balancer with an HTTP listener, its default pool and a second HTTP pool."""
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="lb1")
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                        protocol_port=80, name="http80")
    default = alice.lb.create_pool(listener_id=listener.id, protocol="HTTP",
                                   lb_algorithm="ROUND_ROBIN", name="default")
    other = alice.lb.create_pool(loadbalancer_id=lb.id, protocol="HTTP",
                                 lb_algorithm="ROUND_ROBIN", name="other")
    return {"lb": lb, "listener": listener, "default": default, "pool": other}


def _raw(who, policy_id: str) -> dict:
    """Fields openstacksdk's L7Policy does not carry (redirect_http_code, tags)."""
    with who.http() as c:
        return c.get(f"/lbaas/l7policies/{policy_id}").json()["l7policy"]


def _ids(http_lb) -> dict[str, str]:
    return {CAPTURED_LISTENER: http_lb["listener"].id, CAPTURED_POOL: http_lb["pool"].id}


def test_policies_have_octavias_fields_defaults_and_positions(alice, http_lb):
    made = []
    with alice.http() as c:
        for index in range(3):
            r = c.post("/lbaas/l7policies", json=_sent("027_l7policy_create", index,
                                                       **_ids(http_lb)))
            assert r.status_code == captures.call("027_l7policy_create", index)["status"]
            got, expected = r.json()["l7policy"], captures.body("027_l7policy_create",
                                                                index)["l7policy"]
            assert set(got) == set(expected)
            assert {k: got[k] for k in expected if k not in MOVING} == \
                {k: v for k, v in expected.items() if k not in MOVING}
            assert (got["provisioning_status"], got["operating_status"], got["rules"]) == \
                ("PENDING_CREATE", "OFFLINE", [])
            assert got["position"] == expected["position"], index
            made.append(got["id"])
    to_url, to_pool, reject = made
    # The reject policy went in at position 1: the others moved down, as Octavia's list.
    listed = {p.id: p.position for p in alice.lb.l7_policies(listener_id=http_lb["listener"].id)}
    assert listed == {to_url: 2, to_pool: 3, reject: 1}
    policy = alice.lb.get_l7_policy(to_pool)
    assert (policy.action, policy.redirect_pool_id, _raw(alice, to_pool)["redirect_http_code"]) \
        == ("REDIRECT_TO_POOL", http_lb["pool"].id, None)
    # The listener names them in position order.
    listener = alice.lb.get_listener(http_lb["listener"].id)
    assert [p["id"] for p in listener.l7_policies] == [reject, to_url, to_pool]
    # Moving one renumbers the others; deleting one closes the gap.
    alice.lb.update_l7_policy(reject, position=3)
    assert {p.id: p.position for p in alice.lb.l7_policies()} == \
        {to_url: 1, to_pool: 2, reject: 3}
    alice.lb.update_l7_policy(reject, position=99)  # past the end: the last
    assert alice.lb.get_l7_policy(reject).position == 3
    alice.lb.update_l7_policy(to_pool, position=1)
    assert {p.id: p.position for p in alice.lb.l7_policies()} == \
        {to_pool: 1, to_url: 2, reject: 3}
    alice.lb.delete_l7_policy(to_pool)
    assert {p.id: p.position for p in alice.lb.l7_policies()} == {to_url: 1, reject: 2}
    with alice.http() as c:
        r = c.get(f"/lbaas/l7policies/{to_pool}")
    assert (r.status_code, r.json()["faultstring"]) == (404, f"L7 Policy {to_pool} not found.")


def test_policy_actions_settle_as_octavias(alice, http_lb):
    listener = http_lb["listener"].id
    policy = alice.lb.create_l7_policy(listener_id=listener, action="REJECT",
                                       redirect_url="https://ignored.example/")
    assert (policy.redirect_url, _raw(alice, policy.id)["redirect_http_code"]) == (None, None)
    # A target given sets the action; a URL redirect defaults to 302.
    policy = alice.lb.update_l7_policy(policy, redirect_url="https://example.com/x")
    assert (policy.action, policy.redirect_url, _raw(alice, policy.id)["redirect_http_code"]) \
        == ("REDIRECT_TO_URL", "https://example.com/x", 302)
    with alice.http() as c:
        got = c.put(f"/lbaas/l7policies/{policy.id}", json={"l7policy": {
            "redirect_http_code": 308, "name": "n", "description": "d",
            "tags": ["b", "a"]}}).json()["l7policy"]
    assert (got["redirect_http_code"], got["name"], got["description"], got["tags"]) == \
        (308, "n", "d", ["a", "b"])
    # An action or target given without a code is a redirect of 302 again (Octavia's).
    policy = alice.lb.update_l7_policy(policy, action="REDIRECT_PREFIX",
                                       redirect_prefix="https://prefix.example")
    assert (policy.action, policy.redirect_url, policy.redirect_prefix,
            _raw(alice, policy.id)["redirect_http_code"]) == \
        ("REDIRECT_PREFIX", None, "https://prefix.example", 302)
    policy = alice.lb.update_l7_policy(policy, redirect_pool_id=http_lb["pool"].id)
    assert (policy.action, policy.redirect_prefix,
            _raw(alice, policy.id)["redirect_http_code"]) == ("REDIRECT_TO_POOL", None, None)
    with alice.http() as c:
        for body, message in [
            ({"action": "REDIRECT_TO_URL"}, "Invalid L7 Policy arguments: redirect_url must "
                                            "not be None"),
            ({"redirect_pool_id": None}, "Invalid L7 Policy arguments: redirect_pool_id must "
                                         "not be None"),
            ({"redirect_pool_id": http_lb["pool"].id, "redirect_url": "http://a/"},
             "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url "
             "or redirect_prefix at the same time"),
            ({}, "Invalid L7 Policy arguments: Invalid update options"),
            ({"listener_id": listener}, "Unknown attribute for argument l7policy_.l7policy: "
                                        "listener_id"),
            ({"position": 0}, "Invalid input for field/attribute position. Value: '0'. Value "
                              "should be greater or equal to 1"),
        ]:
            r = c.put(f"/lbaas/l7policies/{policy.id}", json={"l7policy": body})
            assert (r.status_code, r.json()["faultstring"]) == (400, message), body
    assert alice.lb.get_l7_policy(policy).action == "REDIRECT_TO_POOL"


def test_policy_errors_answer_as_octavia(alice, subnet, http_lb):
    tcp = alice.lb.create_listener(loadbalancer_id=http_lb["lb"].id, protocol="TCP",
                                   protocol_port=443)
    ids = {**_ids(http_lb), "bbd283db-fe03-44ed-a2a4-afdca64b72ea": tcp.id}
    with alice.http() as c:
        for index in range(len(captures.calls("028_l7policy_errors"))):
            r = c.post("/lbaas/l7policies", json=_sent("028_l7policy_errors", index, **ids))
            status, message = captures.fault("028_l7policy_errors", index)
            if status == 501:  # the provider's refusal: 400 here, never a 5xx
                status, message = 400, message.replace("'amphora'", "'astara'")
            assert (r.status_code, r.json()["faultstring"]) == (status, message), index
        other_lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id)
        far = alice.lb.create_pool(loadbalancer_id=other_lb.id, protocol="HTTP",
                                   lb_algorithm="ROUND_ROBIN")
        tcp_pool = alice.lb.create_pool(loadbalancer_id=http_lb["lb"].id, protocol="TCP",
                                        lb_algorithm="ROUND_ROBIN")
        listener = http_lb["listener"].id
        for body, status, message in [
            ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": far.id}, 400,
             f"Validation failure: Pool {far.id} is not on the listener's load balancer."),
            ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": tcp_pool.id}, 400,
             "Validation failure: The pool protocol 'TCP' is invalid while the listener "
             "protocol is 'HTTP'."),
            ({"action": "REJECT", "rules": [{"type": "PATH"}]}, 400,
             "Provider 'astara' does not support a requested option: rules (not yet)"),
            ({"action": "REDIRECT_TO_URL", "redirect_url": "ftp://x/"}, 400,
             "Invalid input for field/attribute redirect_url. Value: 'ftp://x/'. Value must "
             "be a valid URL string"),
            ({"action": "REJECT", "position": 2**31}, 400,
             "Invalid input for field/attribute position. Value: '2147483648'. Value should "
             "be lower or equal to 2147483647"),
            ({"action": "REJECT", "bogus": 1}, 400,
             "Unknown attribute for argument l7policy_.l7policy: bogus"),
        ]:
            r = c.post("/lbaas/l7policies", json={"l7policy": {"listener_id": listener, **body}})
            assert (r.status_code, r.json()["faultstring"]) == (status, message), body
        r = c.post("/lbaas/l7policies", json={"l7policy": {"action": "REJECT"}})
        assert (r.status_code, r.json()["faultstring"]) == (
            400, "Invalid input for field/attribute listener_id. Value: 'None'. Mandatory "
                 "field missing.")
    assert list(alice.lb.l7_policies()) == []


def test_rules_have_octavias_fields_and_errors(alice, http_lb):
    policy = alice.lb.create_l7_policy(listener_id=http_lb["listener"].id, action="REJECT")
    created = []
    with alice.http() as c:
        for index in range(3):
            r = c.post(f"/lbaas/l7policies/{policy.id}/rules",
                       json=_sent("029_l7rule_create", index))
            assert r.status_code == 201
            got, expected = r.json()["rule"], captures.body("029_l7rule_create", index)["rule"]
            assert set(got) == set(expected)
            assert {k: got[k] for k in expected if k not in MOVING} == \
                {k: v for k, v in expected.items() if k not in MOVING}
            assert got["provisioning_status"] == "PENDING_CREATE"
            created.append(got["id"])
        for index in range(len(captures.calls("030_l7rule_errors"))):
            call = captures.call("030_l7rule_errors", index)
            path = call["path"].replace(CAPTURED_POLICY, policy.id).removeprefix("/v2")
            r = c.post(path, json=call["request_body"])
            assert (r.status_code, r.json()) == (call["status"], call["response_body"]), index
        for body, message in [
            ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "x"},
             "Provider 'astara' does not support a requested option: L7 rule type "
             "SSL_CONN_HAS_CERT (client certificate authentication: not yet)"),
            ({"type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "jpg"},
             "Error parsing L7Rule: Invalid L7 Rule: invalid comparison type for rule type"),
            ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "a b", "value": "x"},
             "Error parsing L7Rule: Invalid characters in header name"),
            ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "c", "value": "a;b"},
             "Error parsing L7Rule: Invalid characters in cookie value"),
            ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X", "value": '"a b"'},
             "Provider 'astara' does not support a requested option: L7 rule values with "
             "spaces or non-ASCII characters (not yet)"),
            ({"type": "PATH", "compare_type": "EQUAL_TO", "value": ""},
             "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a value"),
            ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/", "name": "x"},
             "Unknown attribute for argument rule_.rule: name"),
        ]:
            r = c.post(f"/lbaas/l7policies/{policy.id}/rules", json={"rule": body})
            assert (r.status_code, r.json()["faultstring"]) == (400, message), body
    assert sorted(r["id"] for r in alice.lb.get_l7_policy(policy).rules) == sorted(created)
    path, host, header = created
    rule = alice.lb.get_l7_rule(header, policy)
    assert (rule.type, rule.key, rule.rule_value, rule.invert, rule.tags) == \
        ("HEADER", "X-Test", "blocked", True, ["h"])
    rule = alice.lb.update_l7_rule(path, policy, compare_type="REGEX", rule_value="^/a[0-9]+$",
                                   invert=True, is_admin_state_up=False)
    assert (rule.compare_type, rule.rule_value, rule.invert, rule.is_admin_state_up) == \
        ("REGEX", "^/a[0-9]+$", True, False)
    with alice.http() as c:  # the rule as updated must still be valid as a whole
        r = c.put(f"/lbaas/l7policies/{policy.id}/rules/{host}",
                  json={"rule": {"type": "HEADER"}})
        assert (r.status_code, r.json()["faultstring"]) == (
            400, "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key")
        # The capture's answers for another policy's or an unknown rule.
        alice.lb.delete_l7_rule(header, policy)
        r = c.get(f"/lbaas/l7policies/{policy.id}/rules/{header}")
        assert r.json() == captures.call("040_child_deletes", 1)["response_body"] | {
            "faultstring": f"L7 Rule {header} not found."}
        other = alice.lb.create_l7_policy(listener_id=http_lb["listener"].id, action="REJECT")
        r = c.get(f"/lbaas/l7policies/{other.id}/rules/{path}")
        assert (r.status_code, r.json()["faultstring"]) == (404, f"L7 Rule {path} not found.")
    assert {r.id for r in alice.lb.l7_rules(policy)} == {path, host}


def test_lists_filter_sort_select_and_page(alice, http_lb):
    listener = http_lb["listener"].id
    a = alice.lb.create_l7_policy(listener_id=listener, action="REJECT", name="a")
    b = alice.lb.create_l7_policy(listener_id=listener, action="REDIRECT_TO_URL",
                                  redirect_url="http://b.example/", name="b")
    c_ = alice.lb.create_l7_policy(listener_id=listener, action="REDIRECT_TO_POOL",
                                   redirect_pool_id=http_lb["pool"].id, name="c")
    assert [p.id for p in alice.lb.l7_policies(action="REJECT")] == [a.id]
    assert [p.id for p in alice.lb.l7_policies(redirect_pool_id=http_lb["pool"].id)] == [c_.id]
    with alice.http() as h:
        body = h.get("/lbaas/l7policies", params={"sort": "position:desc"}).json()
    assert [p["id"] for p in body["l7policies"]] == [c_.id, b.id, a.id]
    rules = [alice.lb.create_l7_rule(a, type="PATH", compare_type=ct, rule_value=f"/{i}")
             for i, ct in enumerate(("EQUAL_TO", "STARTS_WITH", "CONTAINS"))]
    assert [r.id for r in alice.lb.l7_rules(a, compare_type="CONTAINS")] == [rules[2].id]
    with alice.http() as h:
        body = h.get("/lbaas/l7policies", params={"fields": "id,position", "limit": 2,
                                                "sort": "position"}).json()
        assert body["l7policies"] == [{"id": a.id, "position": 1}, {"id": b.id, "position": 2}]
        assert [link["rel"] for link in body["l7policies_links"]] == ["next"]
        body = h.get(f"/lbaas/l7policies/{a.id}/rules",
                     params={"sort": "value:desc", "limit": 1, "marker": rules[2].id}).json()
        assert [r["id"] for r in body["rules"]] == [rules[1].id]
        assert [link["rel"] for link in body["rules_links"]] == ["previous", "next"]
        r = h.get("/lbaas/l7policies", params={"bogus": "1"})
        assert (r.status_code, r.json()["faultstring"]) == (
            400, "One or more arguments are either duplicate or invalid")
        r = h.get(f"/lbaas/l7policies/{a.id}/rules", params={"tags": "x", "fields": "id"})
        assert r.json() == {"rules": [], "rules_links": []}
        r = h.get(f"/lbaas/l7policies/{a.id}", params={"fields": "rules"})
        got = r.json()["l7policy"]
        assert set(got) == {"rules"}
        assert sorted(x["id"] for x in got["rules"]) == sorted(x.id for x in rules)


def test_scoping_as_octavias_default_policy(alice, bob, boss, http_lb):
    policy = alice.lb.create_l7_policy(listener_id=http_lb["listener"].id, action="REJECT")
    rule = alice.lb.create_l7_rule(policy, type="HOST_NAME", compare_type="ENDS_WITH",
                                   rule_value=".example.com")
    forbidden = "Policy does not allow this request to be performed."
    with bob.http() as c:
        for method, path, body in [
            ("GET", f"/lbaas/l7policies/{policy.id}", None),
            ("PUT", f"/lbaas/l7policies/{policy.id}", {"l7policy": {"name": "x"}}),
            ("DELETE", f"/lbaas/l7policies/{policy.id}", None),
            ("GET", f"/lbaas/l7policies/{policy.id}/rules", None),
            ("POST", f"/lbaas/l7policies/{policy.id}/rules",
             {"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}}),
            ("GET", f"/lbaas/l7policies/{policy.id}/rules/{rule.id}", None),
            ("DELETE", f"/lbaas/l7policies/{policy.id}/rules/{rule.id}", None),
            ("POST", "/lbaas/l7policies", {"l7policy": {
                "listener_id": http_lb["listener"].id, "action": "REJECT"}}),
            ("GET", "/lbaas/l7policies", {"project_id": alice.project}),
        ]:
            r = c.request(method, path, json=body if method != "GET" else None,
                          params=body if method == "GET" else None)
            assert (r.status_code, r.json()["faultstring"]) == (403, forbidden), (method, path)
        assert c.get("/lbaas/l7policies").json()["l7policies"] == []
    with alice.reader().http() as c:
        assert c.get(f"/lbaas/l7policies/{policy.id}").status_code == 200
        r = c.delete(f"/lbaas/l7policies/{policy.id}/rules/{rule.id}")
        assert r.status_code == 403
    assert [p.id for p in boss.lb.l7_policies(project_id=alice.project)] == [policy.id]
    assert boss.lb.get_l7_rule(rule, policy).project_id == alice.project


def test_quotas_notifications_and_revisions(alice, boss, http_lb, lb_api):
    service = lb_api._server.config.app.state.service
    with service.db.read() as s:
        start = s.scalar(select(func.max(OutboxRow.id))) or 0
    with boss.http() as c:  # openstacksdk's Quota has no L7 fields
        assert c.put(f"/lbaas/quotas/{alice.project}",
                     json={"quota": {"l7policy": 1, "l7rule": 1}}).status_code == 202
    lb_id = http_lb["lb"].id

    def revision() -> int:
        with boss.http() as c:
            return c.get(f"/astara/loadbalancers/{lb_id}/model").json()["revision"]

    before = revision()
    policy = alice.lb.create_l7_policy(listener_id=http_lb["listener"].id, action="REJECT")
    rule = alice.lb.create_l7_rule(policy, type="PATH", compare_type="EQUAL_TO",
                                   rule_value="/x")
    assert revision() == before + 2
    with alice.http() as c:
        r = c.post("/lbaas/l7policies", json={"l7policy": {
            "listener_id": http_lb["listener"].id, "action": "REJECT"}})
        assert (r.status_code, r.json()["faultstring"]) == (
            403, "Quota has been met for resources: L7 Policy")
        r = c.post(f"/lbaas/l7policies/{policy.id}/rules", json={"rule": {
            "type": "PATH", "compare_type": "EQUAL_TO", "value": "/y"}})
        assert (r.status_code, r.json()["faultstring"]) == (
            403, "Quota has been met for resources: L7 Rule")
    assert revision() == before + 2  # a refused write changes nothing
    with boss.http() as c:
        assert c.get(f"/lbaas/quotas/{alice.project}").json()["quota"]["l7policy"] == 1
    alice.lb.update_l7_rule(rule, policy, rule_value="/z")
    alice.lb.update_l7_policy(policy, name="p")
    alice.lb.delete_l7_rule(rule, policy)
    alice.lb.delete_l7_policy(policy)
    assert revision() == before + 6
    with service.db.read() as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.id > start).order_by(OutboxRow.id))
        sent = [json.loads(r.body) for r in rows]
    mine = [m for m in sent if m["event_type"].startswith("l7")]
    assert [m["event_type"] for m in mine] == [
        "l7policy.create.end", "l7rule.create.end", "l7rule.update.end",
        "l7policy.update.end", "l7rule.delete.end", "l7policy.delete.end"]
    assert all(m["payload"]["loadbalancer_id"] == lb_id for m in mine)
    assert mine[0]["payload"]["l7policy"]["id"] == policy.id
    assert mine[2]["payload"]["l7rule"]["value"] == "/z"
    assert mine[5]["payload"]["l7policy_id"] == policy.id


def test_deletes_take_policies_along_and_a_redirect_pool_is_kept(alice, http_lb):
    listener, pool = http_lb["listener"], http_lb["pool"]
    to_pool = alice.lb.create_l7_policy(listener_id=listener.id, action="REDIRECT_TO_POOL",
                                        redirect_pool_id=pool.id)
    rule = alice.lb.create_l7_rule(to_pool, type="PATH", compare_type="STARTS_WITH",
                                   rule_value="/api")
    with alice.http() as c:
        r = c.delete(f"/lbaas/pools/{pool.id}")
        assert (r.status_code, r.json()["faultstring"]) == (
            409, f"Pool {pool.id} is in use by L7 policy {to_pool.id}")
    assert [p["id"] for p in alice.lb.get_pool(pool.id).listeners] == []
    alice.lb.delete_listener(listener)
    assert alice.lb.find_l7_policy(to_pool.id) is None
    with alice.http() as c:
        assert c.get(f"/lbaas/l7policies/{to_pool.id}/rules/{rule.id}").status_code == 404
    alice.lb.delete_pool(pool)  # no policy names it any more
    listener = alice.lb.create_listener(loadbalancer_id=http_lb["lb"].id, protocol="HTTP",
                                        protocol_port=81)
    policy = alice.lb.create_l7_policy(listener_id=listener.id, action="REJECT")
    alice.lb.create_l7_rule(policy, type="PATH", compare_type="EQUAL_TO", rule_value="/")
    alice.lb.delete_load_balancer(http_lb["lb"], cascade=True)
    assert list(alice.lb.l7_policies()) == []
    with alice.http() as c:
        r = c.get(f"/lbaas/l7policies/{policy.id}/rules")
        assert (r.status_code, r.json()["faultstring"]) == (
            404, f"L7 Policy {policy.id} not found.")


def test_model_status_report_and_status_tree(alice, boss, http_lb):
    lb_id, pool = http_lb["lb"].id, http_lb["pool"]
    policy = alice.lb.create_l7_policy(listener_id=http_lb["listener"].id,
                                       action="REDIRECT_TO_POOL", redirect_pool_id=pool.id)
    rule = alice.lb.create_l7_rule(policy, type="COOKIE", compare_type="EQUAL_TO",
                                   key="session", rule_value="abc")
    with boss.http() as c:
        model = c.get(f"/astara/loadbalancers/{lb_id}/model").json()
    with alice.http() as c:
        public_policy = c.get(f"/lbaas/l7policies/{policy.id}").json()["l7policy"]
        public_rule = c.get(f"/lbaas/l7policies/{policy.id}/rules/{rule.id}").json()["rule"]
        assert model["l7policies"] == [public_policy]
        assert model["l7rules"] == [{**public_rule, "l7policy_id": policy.id}]
        tree = c.get(f"/lbaas/loadbalancers/{lb_id}/status").json()
    assert [p["id"] for p in tree["statuses"]["loadbalancer"]["listeners"][0]["pools"]] == \
        [http_lb["default"].id, pool.id]
    body = {"revision": model["revision"],
            "l7policies": [{"id": policy.id, "provisioning_status": "ACTIVE",
                            "operating_status": "ONLINE"}],
            "l7rules": [{"id": rule.id, "provisioning_status": "ACTIVE",
                         "operating_status": "ONLINE"}]}
    with boss.http() as c:
        assert c.put(f"/astara/loadbalancers/{lb_id}/statuses", json=body).status_code == 204
        bad = c.put(f"/astara/loadbalancers/{lb_id}/statuses", json={
            "revision": 1, "l7rules": [{"id": rule.id, "provisioning_status": "DONE"}]})
        assert bad.status_code == 400
    got = alice.lb.get_l7_policy(policy)
    assert (got.provisioning_status, got.operating_status) == ("ACTIVE", "ONLINE")
    got = alice.lb.get_l7_rule(rule, policy)
    assert (got.provisioning_status, got.operating_status) == ("ACTIVE", "ONLINE")
    # A change while built: PENDING_UPDATE for the rule and its policy, intent recorded.
    alice.lb.update_l7_rule(rule, policy, rule_value="def")
    assert alice.lb.get_l7_rule(rule, policy).provisioning_status == "PENDING_UPDATE"
    assert alice.lb.get_l7_policy(policy).provisioning_status == "PENDING_UPDATE"
    with pytest.raises(sdk_exc.ForbiddenException):
        alice.reader().lb.update_l7_rule(rule, policy, rule_value="x")


JUNK = [None, True, -1, 0, 2**63, 1.5, "", "x", "9" * 400, "a b", "\u00e9", [], {}, [None],
        {"": None}, "00000000-0000-4000-8000-000000000000", "http://a/", "(["]
POLICY_FIELDS = ("listener_id", "action", "redirect_pool_id", "redirect_url",
                 "redirect_prefix", "redirect_http_code", "position", "name", "description",
                 "admin_state_up", "tags", "rules", "project_id")
RULE_FIELDS = ("type", "compare_type", "key", "value", "invert", "admin_state_up", "tags",
               "project_id")


def _octavia_error(r) -> bool:
    body = r.json()
    return set(body) in ({"faultcode", "faultstring", "debuginfo"},
                         {"code", "title", "description"})


def test_junk_in_every_field_is_a_4xx_in_octavias_format(alice, http_lb):
    """Never a 5xx: each field of a valid create and update body replaced by junk."""
    listener = http_lb["listener"].id
    policy = alice.lb.create_l7_policy(listener_id=listener, action="REJECT")
    rule = alice.lb.create_l7_rule(policy, type="HEADER", compare_type="EQUAL_TO", key="K",
                                   rule_value="v")
    good_policy = {"listener_id": listener, "action": "REDIRECT_TO_URL",
                   "redirect_url": "http://x/"}
    good_rule = {"type": "COOKIE", "compare_type": "REGEX", "key": "c", "value": "^a"}
    seen: dict[int, int] = {}
    with alice.http() as c:
        for field_ in POLICY_FIELDS:
            for value in JUNK:
                for method, path in (("POST", "/lbaas/l7policies"),
                                     ("PUT", f"/lbaas/l7policies/{policy.id}")):
                    body = {**good_policy, field_: value} if method == "POST" else \
                        {field_: value}
                    r = c.request(method, path, json={"l7policy": body})
                    seen[r.status_code] = seen.get(r.status_code, 0) + 1
                    assert r.status_code < 500, (method, field_, value, r.text)
                    if r.status_code >= 400:
                        assert _octavia_error(r), r.text
        for field_ in RULE_FIELDS:
            for value in JUNK:
                for method, path in (("POST", f"/lbaas/l7policies/{policy.id}/rules"),
                                     ("PUT", f"/lbaas/l7policies/{policy.id}/rules/{rule.id}")):
                    body = {**good_rule, field_: value} if method == "POST" else {field_: value}
                    r = c.request(method, path, json={"rule": body})
                    seen[r.status_code] = seen.get(r.status_code, 0) + 1
                    assert r.status_code < 500, (method, field_, value, r.text)
                    if r.status_code >= 400:
                        assert _octavia_error(r), r.text
        for path in ("/lbaas/l7policies/%00", "/lbaas/l7policies/" + "a" * 300 + "/rules",
                     f"/lbaas/l7policies/{policy.id}/rules/%00"):
            r = c.get(path)
            assert r.status_code == 404 and _octavia_error(r), path
    assert seen.get(400, 0) > 100 and (seen.get(200, 0) + seen.get(201, 0)) > 10, seen
    # What was accepted left consistent positions: 1..n.
    positions = sorted(p.position for p in alice.lb.l7_policies(listener_id=listener))
    assert positions == list(range(1, len(positions) + 1))


def test_concurrent_inserts_and_moves_keep_positions_dense(alice, http_lb):
    """Writers of one listener's policies take turns on the load balancer's row: the
    positions stay 1..n however their requests interleave."""
    from concurrent.futures import ThreadPoolExecutor

    listener = http_lb["listener"].id
    first = alice.lb.create_l7_policy(listener_id=listener, action="REJECT")

    def insert(_: int) -> int:
        with alice.http() as c:
            return c.post("/lbaas/l7policies", json={"l7policy": {
                "listener_id": listener, "action": "REJECT", "position": 1}}).status_code

    def move(position: int) -> int:
        with alice.http() as c:
            return c.put(f"/lbaas/l7policies/{first.id}",
                         json={"l7policy": {"position": position}}).status_code

    with ThreadPoolExecutor(4) as pool:
        inserts = pool.map(insert, range(8))
        moves = pool.map(move, [3, 1, 5, 2])
        statuses = list(inserts) + list(moves)
    assert set(statuses) <= {200, 201, 409}, statuses  # 409: "retry it", never a 5xx
    positions = sorted(p.position for p in alice.lb.l7_policies(listener_id=listener))
    assert positions == list(range(1, statuses.count(201) + 2))
