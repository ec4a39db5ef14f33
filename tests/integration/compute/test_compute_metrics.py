"""The compute service's metrics, scraped over HTTP: the API's /metrics (admin only),
the agent's and the dispatcher's loopback listeners, the metadata service's /metrics
(never to a proxied instance). A server booted moves the right counters."""

from __future__ import annotations

import httpx
import pytest
from tests.integration.compute.test_compute_metadata import metadata_api  # noqa: F401
from tests.scrape import samples, total, value
from tests.support import free_port

from astara.cli.compute_agent import serve_metrics as agent_metrics
from astara.cli.compute_dispatcher import serve_metrics as dispatcher_metrics
from astara.compute_service import catalog
from astara.compute_service.dispatcher.consumer import CONSUMER

REQUESTS = "astara_compute_http_requests_total"


def scrape(url: str, headers: dict | None = None) -> str:
    answer = httpx.get(url, headers=headers or {}, timeout=10, trust_env=False)
    assert answer.status_code == 200, answer.text
    return answer.text


@pytest.fixture
def listeners(compute):
    """The session stack's agent and dispatcher, each on a loopback listener."""
    servers = [agent_metrics(compute.agent, "127.0.0.1", free_port()),
               dispatcher_metrics(compute.dispatcher, "127.0.0.1", free_port())]
    yield [f"http://127.0.0.1:{s.server_address[1]}/metrics" for s in servers]
    for s in servers:
        s.shutdown()
        s.server_close()


def test_a_server_booted_moves_the_api_agent_and_dispatcher_counters(compute, user,
                                                                    admin_user, listeners):
    api = f"{compute.api.url}/metrics"
    agent_url, dispatcher_url = listeners
    before = scrape(api, admin_user.headers)
    agent_before, disp_before = scrape(agent_url), scrape(dispatcher_url)

    net = user.sdk.network.create_network(name="metrics-net")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.71.0.0/24")
    created = user.sdk.compute.create_server(name="metrics-vm", image_id=catalog.TENANT_IMAGE,
                                             flavor_id="1", networks=[{"uuid": net.id}])
    user.wait_status(created.id, "ACTIVE")

    after = scrape(api, admin_user.headers)
    labels = {"route": "/v2.1/servers", "method": "POST", "code": "202"}
    assert value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels) == 1
    assert value(after, "astara_compute_http_request_duration_seconds_count",
                 route="/v2.1/servers", method="POST") >= 1
    active = ("astara_compute_instances", {"vm_state": "active"})
    assert value(after, active[0], **active[1]) - value(before, active[0], **active[1]) == 1
    assert total(after, "astara_compute_jobs", status="done") > \
        total(before, "astara_compute_jobs", status="done")
    assert user.project not in after and created.id not in after

    agent_after, disp_after = scrape(agent_url), scrape(dispatcher_url)
    assert total(agent_after, "astara_compute_agent_jobs_total", status="done") > \
        total(agent_before, "astara_compute_agent_jobs_total", status="done")
    assert value(disp_after, "astara_compute_dispatcher_messages_total", result="applied") > \
        value(disp_before, "astara_compute_dispatcher_messages_total", result="applied")
    lag = ("astara_outbox_unconsumed_messages", frozenset({("consumer", CONSUMER)}))
    assert lag in samples(disp_after)
    user.sdk.compute.delete_server(created.id)


def test_the_api_metrics_answer_an_admin_only(compute, user):
    url = f"{compute.api.url}/metrics"
    member = httpx.get(url, headers=user.headers, trust_env=False)
    assert member.status_code == 403 and "forbidden" in member.json()
    nobody = httpx.get(url, trust_env=False)
    assert nobody.status_code == 401


def test_metadata_metrics_answer_the_scraper_never_a_proxied_instance(metadata_api):  # noqa: F811
    url = f"{metadata_api.url}/metrics"
    direct = httpx.get(url, trust_env=False)
    assert direct.status_code == 200
    assert "astara_compute_metadata_http_requests_total" in direct.text
    proxied = httpx.get(url, trust_env=False, headers={
        "X-Instance-ID": "i-1", "X-Tenant-ID": "t", "X-Astara-Port-ID": "p",
        "X-Forwarded-For": "10.0.0.5"})
    assert proxied.status_code == 404 and "astara_" not in proxied.text
