"""Parsing agent events: what the dispatcher trusts and what it dead-letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astara.compute_service import events

ID = "5e1ed4fb-c14c-4b7b-8010-906c05b929a9"
INSTANCE = {"id": ID, "project_id": "p", "user_id": "u", "name": "vm"}
DATA = Path(__file__).parents[2] / "data" / "nova"


def test_build_then_parse_round_trips():
    body = events.build("create.end", INSTANCE, 42, "h1", {"state": "active"})
    assert body["event_type"] == "compute.instance.create.end"
    assert body["publisher_id"] == "compute.h1"
    event = events.parse(json.loads(json.dumps(body)))
    assert (event.instance_id, event.seq, event.host, event.action) == (ID, 42, "h1",
                                                                        "create.end")
    assert event.payload["tenant_id"] == "p"


def test_built_payload_has_the_keys_of_a_real_nova_notification():
    capture = json.loads((DATA / "compute.instance.create.end.json").read_text())
    message = json.loads(capture["envelope"]["oslo.message"])
    ours = events.build("create.end", INSTANCE, 1, "h1")
    assert set(ours) <= set(message)
    shared = {"tenant_id", "user_id", "instance_id", "display_name", "host", "node",
              "availability_zone", "metadata", "reservation_id", "hostname"}
    assert shared <= set(message["payload"]) and shared <= set(ours["payload"])
    assert ours["priority"] == message["priority"]


def good(**over):
    body = events.build("create.end", INSTANCE, 7, "h1")
    body.update(over)
    return body


def with_payload(**over):
    body = good()
    body["payload"] = {**body["payload"], **over}
    return body


@pytest.mark.parametrize("body,error", [
    ("not a dict", "message body is not an object"),
    (good(event_type="network.create.end"), "not a compute.instance event"),
    (good(event_type="compute.instance.fly.end"), "unknown event type"),
    (good(payload=[1]), "payload is not an object"),
    (with_payload(instance_id=""), "payload has no instance_id"),
    (with_payload(instance_id=None), "payload has no instance_id"),
    (with_payload(sequence="7"), "bad sequence"),
    (with_payload(sequence=0), "bad sequence"),
    (with_payload(sequence=True), "bad sequence"),
    (with_payload(sequence=None), "bad sequence"),
])
def test_unparsable(body, error):
    with pytest.raises(events.Unparsable, match=error):
        events.parse(body)
