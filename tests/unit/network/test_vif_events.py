"""Which port status change is which Nova external event (``vif_events``), as Neutron's
Nova notifier decides; and the sender that posts them off the request path."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace

import httpx
import pytest

from astara.common.settings import defaults
from astara.network_service import vif_events
from astara.network_service.app import nova_notifier
from astara.network_service.nova_notifier import NovaNotifier

STATUSES = ("ACTIVE", "BUILD", "DOWN", "ERROR")
SRV = "5c0b6b1e-7d43-4b55-8f1e-0c8a9f1f2b11"
EXPECTED = {
    ("DOWN", "ACTIVE"): "network-vif-plugged",
    ("BUILD", "ACTIVE"): "network-vif-plugged",
    ("ACTIVE", "DOWN"): "network-vif-unplugged",
}


@pytest.mark.parametrize("before", STATUSES)
@pytest.mark.parametrize("after", STATUSES)
def test_every_transition(before, after):
    assert vif_events.event_name(before, after) == EXPECTED.get((before, after))
    event = vif_events.event("p1", "compute:nova", SRV, before, after)
    if (before, after) in EXPECTED:
        assert event == {"name": EXPECTED[(before, after)], "server_uuid": SRV,
                         "tag": "p1", "status": "completed"}
    else:
        assert event is None


@pytest.mark.parametrize("owner,device", [
    ("", SRV), ("network:dhcp", SRV), ("network:router_interface", "r1"),
    ("compute:nova", ""), ("Compute:nova", SRV), ("computer", SRV),
    # a device_id Nova would refuse (400 for the whole batch) is never sent
    ("compute:nova", "x"), ("compute:nova", "srv-1")])
def test_only_an_instance_port_with_a_server_is_told(owner, device):
    assert vif_events.event("p1", owner, device, "DOWN", "ACTIVE") is None


def test_any_availability_zone_counts():
    assert vif_events.event("p1", "compute:az-2", SRV, "DOWN", "ACTIVE") is not None


def test_a_notifier_only_with_nova_url():
    base = defaults()
    assert base.network.nova_url == "" and nova_notifier(base) is None
    n = nova_notifier(replace(base, network=replace(base.network,
                                                    nova_url="http://nova:8774/")))
    assert n is not None and n.url == "http://nova:8774/v2.1/os-server-external-events"
    assert n.headers["X-Project-Id"] == "astara-service"


class Nova:
    """An httpx transport answering as Nova, recording every request."""

    def __init__(self, answer=None):
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda body: httpx.Response(200, json=body))
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a post has reached Nova

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.entered.set()
        self.gate.wait(10)
        self.requests.append(request)
        return self.answer(json.loads(request.content))

    def events(self) -> list[dict]:
        return [e for r in self.requests for e in json.loads(r.content)["events"]]


def event(n: int) -> dict:
    return {"name": "network-vif-plugged", "server_uuid": f"srv-{n}", "tag": f"port-{n}",
            "status": "completed"}


def test_queued_events_go_out_in_order_batched_and_close_sends_the_rest():
    nova = Nova()
    nova.gate.clear()  # the first post waits: the others queue behind it
    sender = NovaNotifier("http://nova/", "svc", transport=httpx.MockTransport(nova))
    sender.send([event(1)])
    assert nova.entered.wait(10)
    sender.send([event(2), event(3)])
    sender.send([event(4)])
    nova.gate.set()
    sender.close()
    assert nova.events() == [event(n) for n in (1, 2, 3, 4)]
    assert len(nova.requests) == 2  # what queued behind the first post went in one
    r = nova.requests[0]
    assert r.url == "http://nova/v2.1/os-server-external-events" and r.method == "POST"
    assert r.headers["x-roles"] == "admin" and r.headers["x-project-id"] == "svc"
    assert r.headers["x-openstack-nova-api-version"] == "2.1"
    sender.send([event(5)])  # closed: nothing more goes out, nothing raised
    assert len(nova.events()) == 4


def test_only_the_events_nova_did_not_take_are_logged_once_each(caplog):
    def answer(body):
        events = [{**e, "code": 404 if e["tag"] == "port-2" else 200}
                  for e in body["events"]]
        return httpx.Response(207 if len(events) > 1 else 200, json={"events": events})

    nova = Nova(answer)
    nova.gate.clear()
    sender = NovaNotifier("http://nova", "svc", transport=httpx.MockTransport(nova))
    caplog.set_level(logging.WARNING, logger="astara.network_service.nova_notifier")
    sender.send([event(0)])
    assert nova.entered.wait(10)
    sender.send([event(1), event(2), event(3)])
    nova.gate.set()
    sender.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "port-2" in lines[0] and "srv-2" in lines[0] \
        and "404" in lines[0]


def test_a_transport_error_is_one_line_per_event_and_the_next_still_goes(caplog):
    seen: list[dict] = []
    first = threading.Event()

    def transport(request: httpx.Request) -> httpx.Response:
        seen.extend(json.loads(request.content)["events"])
        if not first.is_set():
            first.set()
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json=json.loads(request.content))

    sender = NovaNotifier("http://nova", "svc", transport=httpx.MockTransport(transport))
    caplog.set_level(logging.WARNING, logger="astara.network_service.nova_notifier")
    sender.send([event(1)])
    assert first.wait(10)
    sender.send([event(2)])
    sender.close()
    assert seen == [event(1), event(2)]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "port-1" in lines[0] and "srv-1" in lines[0] \
        and "connection refused" in lines[0]


def test_a_full_queue_drops_with_one_line_and_never_blocks(caplog):
    nova = Nova()
    nova.gate.clear()
    sender = NovaNotifier("http://nova", "svc", max_queued=2,
                          transport=httpx.MockTransport(nova))
    caplog.set_level(logging.WARNING, logger="astara.network_service.nova_notifier")
    sender.send([event(1)])
    assert nova.entered.wait(10)  # the sender holds event 1, waiting on Nova
    sender.send([event(2), event(3), event(4)])  # room for two
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "port-4" in lines[0] and "dropped" in lines[0]
    nova.gate.set()
    sender.close()
    assert [e["tag"] for e in nova.events()] == ["port-1", "port-2", "port-3"]


def test_an_unexpected_failure_loses_its_batch_not_the_sender(caplog):
    calls: list[list[dict]] = []
    first = threading.Event()

    def handler(request):
        calls.append(json.loads(request.content)["events"])
        if len(calls) == 1:
            first.set()
            raise RuntimeError("not an httpx error")  # e.g. a bug below httpx
        return httpx.Response(200, json={"events": []})

    sender = NovaNotifier("http://nova", "svc", transport=httpx.MockTransport(handler))
    caplog.set_level(logging.ERROR, logger="astara.network_service.nova_notifier")
    sender.send([event(1)])
    assert first.wait(10)
    sender.send([event(2)])
    sender.close()
    assert calls == [[event(1)], [event(2)]]  # the thread went on to the next batch
    assert any("port-1" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("url", ["nova:8774", "ftp://nova/", "http://"])
def test_a_malformed_nova_url_is_refused_at_start(url):
    with pytest.raises(ValueError, match="nova_url"):
        NovaNotifier(url, "svc")
