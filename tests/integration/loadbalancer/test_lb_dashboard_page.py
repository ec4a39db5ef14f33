"""The dashboard's load balancer page against the real load-balancer and network APIs
(SQLite and PostgreSQL): a tenant builds a listener, a pool, a member and a health
monitor through the page, sees them as the API stores them (openstacksdk), sees the
API's refusal in its own words, and deletes each."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from astara.dashboard.app import create_app
from astara.dashboard.settings import DashboardSettings


def dashboard(who) -> TestClient:
    settings = DashboardSettings(network_url=who.network_url, compute_url="http://127.0.0.1:1/",
                                 loadbalancer_url=who.lb_url, rpc_url="http://127.0.0.1:1/",
                                 allowed_hosts=("testserver",))
    return TestClient(create_app(settings, b"s" * 32), raise_server_exceptions=False)


def test_a_tenant_builds_and_deletes_a_load_balancers_parts(alice, subnet):
    with dashboard(alice) as c:
        r = c.post("/login", data={"project": alice.project, "role": "member"},
                   follow_redirects=False)
        assert r.status_code == 303
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/loadbalancers").text)[1]
        r = c.post("/loadbalancers", data={"csrf": token, "name": "dash-lb",
                                           "subnet_id": subnet.id})
        assert "Load balancer requested." in r.text
        [lb] = list(alice.lb.load_balancers())
        base = f"/loadbalancers/{lb.id}"

        def post(path: str, **data) -> str:
            return c.post(f"{base}{path}", data={"csrf": token, "back": base, **data}).text

        assert "Listener on port 80 requested." in post("/listeners", name="web",
                                                        protocol="HTTP", protocol_port="80")
        [listener] = list(alice.lb.listeners())
        said = post("/listeners", protocol="HTTP", protocol_port="80")
        assert re.search(r'class="flash error"[^>]*>The load-balancer API says: [^<]*80',
                         said), said
        assert "Pool requested." in post("/pools", name="backends", protocol="HTTP",
                                         lb_algorithm="ROUND_ROBIN", listener_id=listener.id)
        [pool] = list(alice.lb.pools())
        assert alice.lb.get_listener(listener.id).default_pool_id == pool.id
        assert "requested." in post("/members", pool_id=pool.id, address="10.20.0.30",
                                    protocol_port="8080", subnet_id=subnet.id)
        [member] = list(alice.lb.members(pool))
        assert (member.address, member.protocol_port, member.subnet_id) == \
            ("10.20.0.30", 8080, subnet.id)
        assert "Health monitor requested." in post("/healthmonitors", pool_id=pool.id,
                                                   type="HTTP", delay="5", timeout="3",
                                                   max_retries="3")
        [monitor] = list(alice.lb.health_monitors())
        page = c.get(base).text
        for oid in (listener.id, pool.id, member.id, monitor.id):
            assert oid in page
        assert "10.20.0.30:8080" in page

        post(f"/pools/{pool.id}/members/{member.id}/delete")
        for kind, oid in (("healthmonitors", monitor.id), ("listeners", listener.id),
                          ("pools", pool.id)):
            assert "deletion requested." in post(f"/{kind}/{oid}/delete")
        assert not list(alice.lb.listeners()) and not list(alice.lb.pools())
        assert not list(alice.lb.health_monitors())
