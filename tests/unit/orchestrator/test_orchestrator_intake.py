"""Intake as a truth table over the real Neutron captures and malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astara.orchestrator.intake import appliance_instance, normalize
from astara.orchestrator.keys import Crud, FloatingIPHint, NetworkHint, ResourceRef

CAPTURES = Path(__file__).parents[2] / "data" / "neutron" / "notifications"
ROUTER = "c61d6b42-85ba-4431-a014-539ade35216c"
DEMO = "d0000000000000000000000000000000"
ADMIN = "a0000000000000000000000000000000"
PRIVATE = "44085f07-c533-48f8-b5ea-29fef1efacd0"
PUBLIC = "6b455a89-fa2d-4333-86d3-4d402a4ddb38"
FIP = "d0f8a37a-e57c-41dc-9d11-796cf8970cdf"


def r(crud):
    return (crud, ResourceRef("router", ROUTER, DEMO))


def net(network, tenant=DEMO):
    return (Crud.UPDATE, NetworkHint(network, tenant))


def fip(address="172.24.4.91"):
    return (Crud.UPDATE, FloatingIPHint(FIP, address, DEMO))


# capture number -> the events it must produce (every .start gives none).
EXPECTED = {
    2: [net(PUBLIC, ADMIN)], 4: [net(PUBLIC, ADMIN)], 6: [net(PRIVATE)], 8: [net(PRIVATE)],
    10: [r(Crud.CREATE)], 11: [r(Crud.UPDATE)], 13: [net(PRIVATE)],
    15: [fip()], 17: [r(Crud.UPDATE), fip()],
    19: [r(Crud.UPDATE)], 21: [r(Crud.UPDATE)], 23: [r(Crud.UPDATE)],
    25: [net(PRIVATE)], 27: [net(PRIVATE)], 29: [net(PRIVATE)],
    31: [fip()], 33: [fip()], 35: [net(PRIVATE)], 36: [r(Crud.UPDATE)],
    38: [r(Crud.UPDATE)], 40: [r(Crud.DELETE)], 42: [net(PRIVATE)], 44: [net(PRIVATE)],
    46: [net(PUBLIC, ADMIN)], 48: [net(PUBLIC, ADMIN)],
}


def captures():
    for path in sorted(CAPTURES.glob("[0-9]*.json")):
        yield pytest.param(json.loads(path.read_text()), id=path.stem)


@pytest.mark.parametrize("capture", list(captures()))
def test_real_neutron_messages(capture):
    seq = capture["_capture"]["seq"]
    expected = EXPECTED.get(seq, [])
    for message in (capture["message"], capture["envelope"]):
        got = [(e.crud, e.target) for e in normalize(message)]
        assert got == expected, seq


@pytest.mark.parametrize("message", [
    None, 42, "router.create.end", {}, {"event_type": "router.create.end"},
    {"event_type": "router.create.end", "payload": []},
    {"event_type": "router.create.end", "payload": {"router": "x"}},
    {"event_type": "router.interface.create", "payload": {"router_interface": {}}},
    {"event_type": "compute.instance.create.end", "payload": {}},
    {"oslo.version": "2.0", "oslo.message": "{not json"},
    {"event_type": 7, "payload": {}},
])
def test_malformed_or_foreign_messages_give_nothing(message):
    assert normalize(message) == []


def test_router_delete_uses_router_id_and_context_tenant():
    msg = {"event_type": "router.delete.end", "payload": {"router_id": "r1"},
           "_context_project_id": "t1"}
    [event] = normalize(msg)
    assert event.target == ResourceRef("router", "r1", "t1")
    assert event.crud is Crud.DELETE


# -- compute notifications: an appliance instance's boot wakes its router -------------
NOVA_CREATE_END = json.loads((Path(__file__).parents[2] / "data" / "nova"
                              / "compute.instance.create.end.json").read_text())["envelope"]
SERVICE = "astara-service"


def appliance_event(event_type="compute.instance.create.end", **payload) -> dict:
    """The real Nova capture, as the notification of an appliance the orchestrator booted."""
    msg = json.loads(NOVA_CREATE_END["oslo.message"])
    msg["event_type"] = event_type
    msg["payload"].update({"display_name": f"ak-{ROUTER}", "tenant_id": SERVICE,
                           "metadata": {"astara_router_id": ROUTER}}, **payload)
    return {"oslo.version": "2.0", "oslo.message": json.dumps(msg)}


@pytest.mark.parametrize("message, expected", [
    (appliance_event(), ResourceRef("router", ROUTER, SERVICE)),
    (json.loads(appliance_event()["oslo.message"]), ResourceRef("router", ROUTER, SERVICE)),
    (appliance_event("compute.instance.create.error"), ResourceRef("router", ROUTER, SERVICE)),
    (appliance_event("compute.instance.delete.end"), ResourceRef("router", ROUTER, SERVICE)),
    # an HA router's member 1 (ak-<router id>.ha1) wakes its router
    (appliance_event(display_name=f"ak-{ROUTER}.ha1",
                     metadata={"astara_router_id": f"{ROUTER}.ha1"}),
     ResourceRef("router", ROUTER, SERVICE)),
    (appliance_event(display_name="ak-x.ha1", metadata={"astara_router_id": "x.ha1"}), None),
    (NOVA_CREATE_END, None),  # a tenant's instance
    (appliance_event("compute.instance.create.start"), None),  # nothing happened yet
    (appliance_event(tenant_id=DEMO), None),  # a member's look-alike: not our project
    (appliance_event(display_name="ak-other"), None),
    (appliance_event(metadata={"astara_router_id": ".*"}), None),
    (appliance_event(metadata="x"), None),
    (appliance_event(metadata={}), None),
    ({"oslo.message": "{not json"}, None),
    ({"event_type": "compute.instance.create.end", "payload": "x"}, None),
    ("text", None),
])
def test_appliance_instance_event_names_its_router(message, expected):
    assert appliance_instance(message, SERVICE) == expected


def test_appliance_instance_event_needs_a_service_project():
    assert appliance_instance(appliance_event(tenant_id=""), "") is None
