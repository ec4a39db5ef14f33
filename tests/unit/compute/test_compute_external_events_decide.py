"""Nova's server external events: body validation, per-event codes, links to tell (pure)."""

from __future__ import annotations

import pytest

from astara.compute_service.api import errors, external_events
from astara.compute_service.api.external_events import Event, decide, links_up, parse

S1 = "0b8f7a8e-0000-4000-8000-000000000001"
S2 = "0b8f7a8e-0000-4000-8000-000000000002"
S3 = "0b8f7a8e-0000-4000-8000-000000000003"
V21 = (2, 1)


def plugged(server: str = S1, **extra) -> dict:
    return {"name": "network-vif-plugged", "server_uuid": server, **extra}


def refused(body, version=V21) -> str:
    with pytest.raises(errors.BadRequest) as caught:
        parse(body, version)
    assert caught.value.status == 400
    return caught.value.message


def test_a_valid_body_gives_events_with_nova_defaults():
    events = parse({"events": [plugged(tag="port-1"), plugged(S2, status="failed")]}, V21)
    assert [(e.server_uuid, e.name, e.status, e.tag) for e in events] == [
        (S1, "network-vif-plugged", "completed", "port-1"),
        (S2, "network-vif-plugged", "failed", None)]


@pytest.mark.parametrize("body, message", [
    (None, "None is not of type 'object'"),
    ([], "[] is not of type 'object'"),
    ({}, "'events' is a required property"),
    ({"events": "x"}, "Invalid input for field/attribute events. Value: x. "
                      "'x' is not of type 'array'"),
    ({"events": []}, "Invalid input for field/attribute events. Value: []. "
                     "[] should be non-empty"),
    ({"events": [plugged()], "more": 1},
     "Additional properties are not allowed ('more' was unexpected)"),
    ({"events": [plugged(), 7]}, "Invalid input for field/attribute 1. Value: 7. "
                                 "7 is not of type 'object'"),
    ({"events": [{"name": "network-vif-plugged"}]},
     "Invalid input for field/attribute 0. Value: {'name': 'network-vif-plugged'}. "
     "'server_uuid' is a required property"),
    ({"events": [{"server_uuid": S1}]},
     "Invalid input for field/attribute 0. Value: {'server_uuid': '" + S1 + "'}. "
     "'name' is a required property"),
    ({"events": [plugged("not-a-uuid")]}, "Invalid input for field/attribute server_uuid. "
                                          "Value: not-a-uuid. 'not-a-uuid' is not a 'uuid'"),
    ({"events": [plugged(7)]}, "Invalid input for field/attribute server_uuid. Value: 7. "
                               "7 is not of type 'string'"),
    ({"events": [{"name": "reboot", "server_uuid": S1}]},
     "Invalid input for field/attribute name. Value: reboot. 'reboot' is not one of "
     "['network-changed', 'network-vif-plugged', 'network-vif-unplugged', "
     "'network-vif-deleted']"),
    ({"events": [plugged(status="done")]}, "Invalid input for field/attribute status. "
                                           "Value: done. 'done' is not one of "
                                           "['failed', 'completed', 'in-progress']"),
    ({"events": [plugged(status=None)]}, "Invalid input for field/attribute status. "
                                         "Value: None. None is not of type 'string'"),
    ({"events": [plugged(tag=["p"])]}, "Invalid input for field/attribute tag. "
                                       "Value: ['p']. ['p'] is not of type 'string'"),
])
def test_bad_bodies_get_novas_messages(body, message):
    assert refused(body) == message


def test_an_unknown_field_of_an_event_is_refused():
    message = refused({"events": [plugged(S1, bogus=1)]})
    assert message.startswith("Invalid input for field/attribute 0. Value: {")
    assert message.endswith(". Additional properties are not allowed ('bogus' was "
                            "unexpected)")


def test_an_overlong_tag_is_refused_and_255_is_not():
    assert refused({"events": [plugged(tag="t" * 256)]}).endswith("is too long")
    assert parse({"events": [plugged(tag="t" * 255)]}, V21)[0].tag == "t" * 255


def test_the_item_index_names_the_failing_event():
    body = {"events": [plugged(), plugged(), {"server_uuid": S1}]}
    assert refused(body).startswith("Invalid input for field/attribute 2. ")


def test_event_names_grow_with_the_microversion():
    body = {"events": [{"name": "volume-extended", "server_uuid": S1, "tag": "v"}]}
    assert "is not one of" in refused(body, (2, 50))
    assert parse(body, (2, 51))[0].name == "volume-extended"
    power = {"events": [{"name": "power-update", "server_uuid": S1, "tag": "POWER_ON"}]}
    assert "is not one of" in refused(power, (2, 75))
    assert parse(power, (2, 76))[0].name == "power-update"
    assert external_events.names((2, 104)) == [
        "network-changed", "network-vif-plugged", "network-vif-unplugged",
        "network-vif-deleted", "volume-extended", "power-update",
        "accelerator-request-bound", "volume-reimaged"]
    assert external_events.names((2, 92))[-1] == "accelerator-request-bound"


@pytest.mark.parametrize("sent", [S1.upper(), S1.replace("-", ""), "{" + S1 + "}",
                                  "urn:uuid:" + S1])
def test_uuid_like_server_ids_are_accepted_and_looked_up_canonically(sent):
    event = parse({"events": [plugged(sent)]}, V21)[0]
    assert event.server_uuid == S1
    assert event.sent["server_uuid"] == sent  # echoed as sent


def test_admin_or_service_role_may_send_events():
    assert external_events.allowed(("admin",))
    assert external_events.allowed(("service", "reader"))
    assert not external_events.allowed(("member", "reader"))
    assert not external_events.allowed(())
    assert external_events.forbidden().message == (
        "Policy doesn't allow os_compute_api:os-server-external-events:create to be "
        "performed.")


def events(*items: dict) -> list[Event]:
    return parse({"events": list(items)}, (2, 104))


def test_all_accepted_is_200_and_each_event_echoes_code_and_status():
    out = decide(events(plugged(tag="p", status="in-progress")), {S1: "h1"})
    assert out.status == 200
    assert out.events == [{"name": "network-vif-plugged", "server_uuid": S1, "tag": "p",
                           "status": "completed", "code": 200}]
    assert [e.server_uuid for e in out.accepted] == [S1]


def test_mixed_codes_are_207():
    out = decide(events(plugged(S1), plugged(S2), plugged(S3)), {S1: "h1", S3: ""})
    assert out.status == 207
    assert [(e["code"], e["status"]) for e in out.events] == [
        (200, "completed"), (404, "failed"), (422, "failed")]
    assert [e.server_uuid for e in out.accepted] == [S1]


@pytest.mark.parametrize("hosts", [{}, {S1: ""}])
def test_none_accepted_is_404(hosts):
    out = decide(events(plugged(S1)), hosts)
    assert out.status == 404 and out.accepted == ()


def test_an_event_missing_the_tag_it_needs_is_400_alone():
    out = decide(events({"name": "volume-extended", "server_uuid": S1}, plugged(S1)),
                 {S1: "h1"})
    assert out.status == 207
    assert [e["code"] for e in out.events] == [400, 200]


def test_links_up_only_for_completed_plugs_grouped_by_server():
    accepted = events(plugged(S1, tag="a"), plugged(S1, tag="b"), plugged(S1, tag="a"),
                      plugged(S2, tag="c", status="failed"),
                      {"name": "network-vif-unplugged", "server_uuid": S2, "tag": "c"},
                      {"name": "network-changed", "server_uuid": S3})
    assert links_up(accepted) == {S1: ("a", "b")}


def test_a_plug_without_a_tag_means_every_port():
    assert links_up(events(plugged(S1, tag="a"), plugged(S1))) == {S1: None}
    assert links_up(events(plugged(S1), plugged(S1, tag="a"))) == {S1: None}
