"""The orchestrator's /metrics on its RPC API (the operator's token): a router created
is taken in, its passes and steps counted, and it shows among the resources.

No compute service runs here: the router's passes end in retries (the compute API is
unreachable), which is what the counters must show."""

from __future__ import annotations

import httpx
from tests.integration.network.helpers import name
from tests.scrape import samples, total, value
from tests.support import wait_for

P = "astara_orchestrator_"


def scrape(orch) -> str:
    answer = orch.get("/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_a_router_created_is_counted_in_passes_steps_and_resources(orchestrator, demo):
    before = scrape(orchestrator)
    router = demo.sdk.network.create_router(name=name("metrics"))

    def counted():
        text = scrape(orchestrator)
        return text if total(text, P + "resources", kind="router") > \
            total(before, P + "resources", kind="router") else None

    after = wait_for(counted, what="the router among the orchestrator's resources")
    after = wait_for(lambda: (t := scrape(orchestrator)) and
                     total(t, P + "reconcile_passes_total", outcome="retry") >
                     total(before, P + "reconcile_passes_total", outcome="retry") and t,
                     what="a retried pass counted")
    assert total(after, P + "reconcile_steps_total", result="error") > \
        total(before, P + "reconcile_steps_total", result="error")
    assert total(after, P + "reconcile_step_duration_seconds_count") > \
        total(before, P + "reconcile_step_duration_seconds_count")
    assert total(after, P + "appliance_health", kind="router", health="unhealthy") >= 1
    assert total(after, P + "worker_alive") == 2  # num_worker_processes
    # A worker reports (its queue too) once it holds a router: this one's does.
    assert any(n == P + "worker_queue_depth" for n, _labels in samples(after))
    lag = ("astara_outbox_unconsumed_messages", frozenset({("consumer",
                                                            "astara-orchestrator")}))
    assert lag in samples(after)
    assert value(after, "astara_orchestrator_http_requests_total", route="/metrics",
                 method="GET", code="200") >= 1
    assert demo.project not in after and router.id not in after


def test_the_metrics_want_the_operators_token(orchestrator):
    refused = httpx.get(f"{orchestrator.url}/metrics", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
    text = scrape(orchestrator)
    assert value(text, "astara_orchestrator_http_requests_total", route="unmatched",
                 method="GET", code="401") >= 1
