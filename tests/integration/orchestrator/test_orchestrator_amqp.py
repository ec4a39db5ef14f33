"""astara-orchestrator with ``[bus] transport = amqp``: our network service's
notifications go from the outbox through the orchestrator's relay to a real
RabbitMQ (exchange ``neutron``), and its listener feeds intake; RabbitMQ killed and
restarted: a router created meanwhile is still picked up from its event."""

from __future__ import annotations

import uuid

import pytest
from tests.integration.network.helpers import name
from tests.integration.orchestrator.conftest import running_orchestrator
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def orchestrator(network_api, network_settings, rabbitmq, tmp_path_factory):
    host = f"orch-{uuid.uuid4().hex[:8]}"
    with running_orchestrator(
            network_api, network_settings, tmp_path_factory.mktemp("orch-amqp"),
            default=f"transport_url = {rabbitmq.url}\nhost = {host}",
            orchestrator=f"\n[bus]\ntransport = amqp\n{rabbitmq.RABBIT_SECTION}") as orch:
        orch.host = host
        yield orch


def router_view(orch, rid):
    r = orch.get(f"/routers/{rid}")
    return r.json()["router"] if r.status_code == 200 else None


def log_of(orch) -> str:
    return (orch.state / "orchestrator.log").read_text()


def test_a_router_event_reaches_intake_through_rabbitmq(orchestrator, demo):
    router = demo.sdk.network.create_router(name=name("r"))
    view = wait_for(lambda: router_view(orchestrator, router.id))
    assert view["tenant_id"] == demo.project
    log = log_of(orchestrator)
    assert f"pool astara.notifications.{orchestrator.host}" in log
    assert f"intake: router.create.end -> router {router.id}" in log


def test_rabbitmq_killed_and_restarted_loses_no_event(orchestrator, demo, rabbitmq):
    rabbitmq.kill()
    try:
        router = demo.sdk.network.create_router(name=name("while-down"))
    finally:
        rabbitmq.start()
    view = wait_for(lambda: router_view(orchestrator, router.id), timeout=90,
                    what="the router created while RabbitMQ was down")
    assert view["tenant_id"] == demo.project
    log = log_of(orchestrator)
    assert "amqp relay: send failed" in log  # it tried while RabbitMQ was down
    assert "amqp relay: the broker takes messages again" in log
    assert log.count(f"intake: router.create.end -> router {router.id}") == 1
