"""The load-balancer API's /metrics, scraped over HTTP: an admin reads it, a load
balancer created moves its route's counters, no project or id shows in a label."""

from __future__ import annotations

import httpx

from tests.scrape import value

REQUESTS = "astara_loadbalancer_http_requests_total"


def scrape(who) -> str:
    answer = httpx.get(f"{who.lb_url}/metrics", headers=who.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_a_load_balancer_created_moves_its_routes_counters(alice, boss, subnet):
    before = scrape(boss)
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="metrics-lb")
    after = scrape(boss)
    created = {"route": "/v2/lbaas/loadbalancers", "method": "POST", "code": "201"}
    assert value(after, REQUESTS, **created) - value(before, REQUESTS, **created) == 1
    assert value(after, "astara_loadbalancer_http_request_duration_seconds_count",
                 route="/v2/lbaas/loadbalancers", method="POST") >= 1
    assert alice.project not in after and lb.id not in after
    alice.lb.delete_load_balancer(lb.id, cascade=True)


def test_only_an_admin_reads_the_metrics(alice):
    member = httpx.get(f"{alice.lb_url}/metrics", headers=alice.headers)
    assert member.status_code == 403 and "faultstring" in member.json()
    assert httpx.get(f"{alice.lb_url}/metrics").status_code == 403
