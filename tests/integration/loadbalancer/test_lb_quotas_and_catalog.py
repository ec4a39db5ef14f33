"""Quotas (read by a project, set by an admin, met with Octavia's 403), and the catalog
a client discovers: the versions document, providers and flavors."""

from __future__ import annotations

import httpx

from tests.integration.loadbalancer import captures

UNLIMITED = {k: -1 for k in ("loadbalancer", "load_balancer", "listener", "member", "pool",
                             "healthmonitor", "health_monitor", "l7policy", "l7rule")}


def test_quotas_as_octavia(alice, boss):
    with alice.http() as c:
        r = c.get(f"/lbaas/quotas/{alice.project}")
        assert r.json() == {"quota": {"project_id": alice.project, "tenant_id": alice.project,
                                      **UNLIMITED}}
        assert set(r.json()["quota"]) == set(captures.body("004_quotas", 1)["quota"])
        for method, path in (("GET", "/lbaas/quotas/defaults"),
                             ("GET", f"/lbaas/quotas/{boss.project}"),
                             ("PUT", f"/lbaas/quotas/{alice.project}")):
            r = c.request(method, path, json={"quota": {"load_balancer": 5}})
            assert (r.status_code, r.json()) == (403, captures.body("004_quotas", 0)), path
        assert c.get("/lbaas/quotas").json() == {"quotas": [], "quotas_links": []}
    with boss.http() as c:
        sent = captures.call("004_quotas", 7)["request_body"]
        r = c.put(f"/lbaas/quotas/{alice.project}", json=sent)
        expected = {**captures.body("004_quotas", 7)["quota"], "project_id": alice.project,
                    "tenant_id": alice.project}
        assert (r.status_code, r.json()) == (202, {"quota": expected})
        assert {"quota": expected} == c.get(f"/lbaas/quotas/{alice.project}").json()
        assert expected in c.get("/lbaas/quotas").json()["quotas"]
        for index in (10, 11):
            r = c.put(f"/lbaas/quotas/{alice.project}",
                      json=captures.call("004_quotas", index)["request_body"])
            assert r.status_code == 400
            reason = captures.body("004_quotas", index)["faultstring"].rsplit(". ", 1)[1]
            assert r.json()["faultstring"].endswith(reason), index
        assert c.get("/lbaas/quotas/defaults").json() == {"quota": {
            k: -1 for k in UNLIMITED}}
    with alice.http() as c:
        assert c.get("/lbaas/quotas").json()["quotas"] == [expected]


def test_a_met_quota_refuses_with_403_and_makes_no_port(alice, boss, subnet):
    with boss.http() as c:
        c.put(f"/lbaas/quotas/{alice.project}", json={"quota": {"load_balancer": 1,
                                                                "listener": 1}})
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="b1")
    ports = len(list(alice.sdk.network.ports()))
    with alice.http() as c:
        r = c.post("/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet.id}})
        assert (r.status_code, r.json()) == (403, captures.body("038_quota_exceeded", 1))
        alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=1)
        r = c.post("/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb.id, "protocol": "TCP", "protocol_port": 2}})
        assert (r.status_code, r.json()["faultstring"]) == (
            403, "Quota has been met for resources: Listener")
    assert len(list(alice.sdk.network.ports())) == ports
    with boss.http() as c:
        assert c.delete(f"/lbaas/quotas/{alice.project}").status_code == 202
    alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="b2")


def test_versions_providers_and_flavors(lb_api, alice):
    with httpx.Client() as c:
        root = c.get(f"{lb_api.url}/").json()
        captured = captures.body("001_versions_root", 0)
        assert [v["id"] for v in root["versions"]] == [v["id"] for v in captured["versions"]]
        assert root["versions"][-1]["status"] == "CURRENT"
        assert root["versions"][0]["links"] == [{"href": f"{lb_api.url}/v2", "rel": "self"}]
        for path in ("/v2", "/v2.0"):
            assert c.get(f"{lb_api.url}{path}").json() == "v2"
    assert [p.name for p in alice.lb.providers()] == ["astara"]
    with alice.http() as c:
        assert c.get("/lbaas/providers", params={"fields": "name"}).json() == {
            "providers": [{"name": "astara"}]}
        assert c.get("/lbaas/flavors").json() == {"flavors": [], "flavors_links": []}
    assert list(alice.lb.flavors()) == []
