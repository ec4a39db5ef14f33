"""Lists as Octavia answers them: filters, tags, ``fields=``, sorting, pagination with
links, and the error bodies of bad list parameters and missing objects."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.integration.loadbalancer import captures

STEP = "037_pagination_sort_filter"


@pytest.fixture
def four(alice, subnet):
    made = {}
    for index, name in enumerate(("pg-c", "pg-a", "pg-d", "pg-b")):
        made[name] = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name=name,
                                                   description=f"page {index}",
                                                   tags=["web"] if name == "pg-a" else [])
    return made


def _names(body: dict) -> list[str]:
    return [x["name"] for x in body["loadbalancers"]]


def test_sorting_filters_and_fields(alice, four):
    with alice.http() as c:
        got = c.get("/lbaas/loadbalancers", params={"sort": "name:asc"}).json()
        assert _names(got) == ["pg-a", "pg-b", "pg-c", "pg-d"]
        got = c.get("/lbaas/loadbalancers", params=[("sort_key", "name"),
                                                     ("sort_dir", "desc")]).json()
        assert _names(got) == ["pg-d", "pg-c", "pg-b", "pg-a"]
        default = c.get("/lbaas/loadbalancers").json()  # created_at, then id
        assert {x["name"] for x in default["loadbalancers"]} == set(four)
        got = c.get("/lbaas/loadbalancers", params={"name": "pg-a"}).json()
        assert _names(got) == ["pg-a"]
        got = c.get("/lbaas/loadbalancers", params=[("provisioning_status", "PENDING_CREATE"),
                                                     ("fields", "name")]).json()
        assert all(set(x) == {"name"} for x in got["loadbalancers"])
        assert len(got["loadbalancers"]) == 4
        got = c.get("/lbaas/loadbalancers", params={"vip_address": four["pg-b"].vip_address})
        assert _names(got.json()) == ["pg-b"]
        got = c.get("/lbaas/loadbalancers", params=[("fields", "id"), ("fields", "name")])
        assert all(set(x) == {"id", "name"} for x in got.json()["loadbalancers"])
        assert _names(c.get("/lbaas/loadbalancers", params={"tags": "web"}).json()) == ["pg-a"]
        assert _names(c.get("/lbaas/loadbalancers", params={"tags-any": "web,x"}).json()) == [
            "pg-a"]
        assert sorted(_names(c.get("/lbaas/loadbalancers",
                                   params={"not-tags": "web"}).json())) == [
            "pg-b", "pg-c", "pg-d"]
        one = c.get(f"/lbaas/loadbalancers/{four['pg-a'].id}",
                    params=[("fields", "id"), ("fields", "name")]).json()
        assert one == {"loadbalancer": {"id": four["pg-a"].id, "name": "pg-a"}}


def test_pagination_walks_every_page_with_octavias_links(alice, four):
    with alice.http() as c:
        first = c.get("/lbaas/loadbalancers", params=[("limit", "2"), ("sort", "name:asc")])
        body = first.json()
        assert _names(body) == ["pg-a", "pg-b"]
        assert [x["rel"] for x in body["loadbalancers_links"]] == ["next"]
        href = body["loadbalancers_links"][0]["href"]
        assert "sort=name:asc" in href and href.startswith(f"{alice.lb_url}/v2/lbaas/")
        second = c.get(href).json()
        assert _names(second) == ["pg-c", "pg-d"]
        assert [x["rel"] for x in second["loadbalancers_links"]] == ["previous", "next"]
        back = dict(parse_qsl(urlsplit(second["loadbalancers_links"][0]["href"]).query))
        assert back["page_reverse"] == "True" and back["marker"] == four["pg-c"].id
        assert _names(c.get("/lbaas/loadbalancers", params=back).json()) == ["pg-a", "pg-b"]
        last = c.get(second["loadbalancers_links"][1]["href"]).json()
        assert last == {"loadbalancers": [], "loadbalancers_links": []}
    # openstacksdk follows the links itself
    assert sorted(lb.name for lb in alice.lb.load_balancers(limit=1)) == sorted(four)


def test_bad_list_parameters_answer_as_octavia(alice, four):
    with alice.http() as c:
        for index in (13, 14, 16, 17, 19):
            query = captures.call(STEP, index)["query"]
            r = c.get("/lbaas/loadbalancers", params=query)
            assert (r.status_code, r.json()) == (captures.call(STEP, index)["status"],
                                                 captures.body(STEP, index)), index
        r = c.get("/lbaas/loadbalancers", params={"marker": "00000000-0000-4000-8000-000000000000"})
        assert (r.status_code, r.json()) == (400, captures.body(STEP, 18))
        r = c.get("/lbaas/loadbalancers", params={"limit": "-1"})
        assert len(r.json()["loadbalancers"]) == 4


def test_children_filter_by_load_balancer_and_protocol(alice, four):
    lb = four["pg-a"]
    tcp = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=22)
    alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    alice.lb.create_listener(loadbalancer_id=four["pg-b"].id, protocol="TCP", protocol_port=22)
    pool = alice.lb.create_pool(loadbalancer_id=lb.id, protocol="TCP",
                                lb_algorithm="ROUND_ROBIN")
    # as capture 033 asks (openstacksdk's listener query does not pass loadbalancer_id)
    with alice.http() as c:
        found = c.get("/lbaas/listeners", params={"loadbalancer_id": lb.id,
                                                  "protocol": "TCP"}).json()["listeners"]
        assert [x["id"] for x in found] == [tcp.id]
        found = c.get("/lbaas/pools", params={"loadbalancer_id": lb.id}).json()["pools"]
        assert [x["id"] for x in found] == [pool.id]
        found = c.get("/lbaas/pools", params={"loadbalancer_id": four["pg-c"].id}).json()
        assert found == {"pools": [], "pools_links": []}


def test_missing_objects_answer_octavias_404s(alice, four):
    missing = "00000000-0000-4000-8000-000000000000"
    step = "036_not_found_bodies"
    pool = alice.lb.create_pool(loadbalancer_id=four["pg-a"].id, protocol="TCP",
                                lb_algorithm="ROUND_ROBIN")
    paths = {0: f"/lbaas/loadbalancers/{missing}", 1: f"/lbaas/listeners/{missing}",
             2: f"/lbaas/pools/{missing}", 3: f"/lbaas/pools/{pool.id}/members/{missing}",
             4: f"/lbaas/healthmonitors/{missing}", 7: "/lbaas/loadbalancers/not-a-uuid",
             8: "/lbaas/nonexistent"}
    with alice.http() as c:
        for index, path in paths.items():
            r = c.get(path)
            assert (r.status_code, r.json()) == (404, captures.body(step, index)), index
        r = c.delete(f"/lbaas/loadbalancers/{missing}")
        assert (r.status_code, r.json()) == (404, captures.body(step, 10))
        r = c.put(f"/lbaas/loadbalancers/{missing}", json={"loadbalancer": {"name": "x"}})
        assert (r.status_code, r.json()) == (404, captures.body(step, 11))
        r = c.patch(f"/lbaas/loadbalancers/{four['pg-a'].id}", json={})
        assert (r.status_code, r.json()) == (405, captures.body(step, 12))
        r = c.get(f"{alice.lb_url}/v3/lbaas/loadbalancers")
        assert (r.status_code, r.json()["code"]) == (404, 404)
