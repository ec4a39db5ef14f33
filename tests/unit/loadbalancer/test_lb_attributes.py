"""Body validation as Octavia's types do it: a table of bodies and what they answer."""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import attributes as A
from astara.loadbalancer_service import errors

SUBNET = "11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize(("resource", "body", "status", "message"), [
    (A.LOADBALANCER, {"loadbalancer": {"vip_subnet_id": SUBNET, "bogus": 1}}, 400,
     "Unknown attribute for argument load_balancer.loadbalancer: bogus"),
    (A.LOADBALANCER, {"vip_subnet_id": SUBNET}, 400,
     "Unknown attribute for argument load_balancer: vip_subnet_id"),
    (A.LOADBALANCER, {"loadbalancer": {"vip_subnet_id": "nope"}}, 400,
     "Invalid input for field/attribute vip_subnet_id. Value: 'nope'. Value should be UUID "
     "format"),
    (A.LOADBALANCER, {"loadbalancer": {"vip_address": "1.2.3.999"}}, 400,
     "Invalid input for field/attribute vip_address. Value: '1.2.3.999'. Value should be IPv4 "
     "or IPv6 format"),
    (A.LOADBALANCER, {"loadbalancer": {"admin_state_up": "x"}}, 400,
     "Invalid input for field/attribute load_balancer. Value: "
     "'{'loadbalancer': {'admin_state_up': 'x'}}'. Value not an unambiguous boolean: x"),
    (A.LOADBALANCER, {"loadbalancer": {"name": 5}}, 400,
     "Invalid input for field/attribute name. Value: '5'. Wrong type. Expected 'str', got "
     "'int'"),
    (A.LOADBALANCER, {"loadbalancer": {"vip_sg_ids": [SUBNET]}}, 400,
     "Provider 'astara' does not support a requested option: vip_sg_ids (not yet)"),
    (A.LISTENER, {"listener": {"protocol": "HTTP", "protocol_port": 84}}, 400,
     "Invalid input for field/attribute loadbalancer_id. Value: 'None'. Mandatory field "
     "missing."),
    (A.LISTENER, {"listener": {"loadbalancer_id": SUBNET, "protocol": "HTTP",
                               "protocol_port": 70000}}, 400,
     "Invalid input for field/attribute protocol_port. Value: '70000'. Value should be lower "
     "or equal to 65535"),
    (A.LISTENER, {"listener": {"loadbalancer_id": SUBNET, "protocol": "HTTP",
                               "protocol_port": 1, "timeout_client_data": -5}}, 400,
     "Invalid input for field/attribute timeout_client_data. Value: '-5'. Value should be "
     "greater or equal to 0"),
    (A.MEMBER, {"member": {"address": "192.0.2.1", "protocol_port": 1, "weight": 300}}, 400,
     "Invalid input for field/attribute weight. Value: '300'. Value should be lower or equal "
     "to 256"),
    (A.HEALTHMONITOR, {"healthmonitor": {"pool_id": SUBNET, "type": "HTTP", "delay": 5,
                                         "timeout": 3, "max_retries": 3,
                                         "expected_codes": "abc"}}, 400,
     "Invalid input for field/attribute expected_codes. Value: 'abc'. Value should match the "
     r"pattern ^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$"),
    (A.HEALTHMONITOR, {"healthmonitor": {"pool_id": SUBNET, "type": "HTTP", "delay": 5,
                                         "timeout": 3, "max_retries": 3,
                                         "url_path": "no-slash"}}, 400,
     "Invalid input for field/attribute url_path. Value: 'no-slash'. Value must be a valid "
     "URL Path string"),
    (A.POOL, {"pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "session_persistence": {"type": "X"}}}, 400,
     "Invalid input for field/attribute type. Value: 'X'. Value should be one of: SOURCE_IP, "
     "HTTP_COOKIE, APP_COOKIE"),
])
def test_refused_bodies(resource, body, status, message):
    with pytest.raises(errors.ApiError) as caught:
        A.parse(resource, body, create=True)
    assert (caught.value.status, caught.value.message) == (status, message)


def test_clean_values_of_a_create_and_an_update():
    got = A.parse(A.LISTENER, {"listener": {
        "loadbalancer_id": SUBNET.upper(), "protocol": "TCP", "protocol_port": "443",
        "tags": ["b", "a", "b"], "allowed_cidrs": ["10.0.0.1/8"], "admin_state_up": "yes",
        "tenant_id": "p"}}, create=True)
    assert got == {"loadbalancer_id": SUBNET, "protocol": "TCP", "protocol_port": 443,
                   "tags": ["a", "b"], "allowed_cidrs": ["10.0.0.0/8"],
                   "admin_state_up": True, "project_id": "p"}
    with pytest.raises(errors.BadRequest, match="listener_.listener: protocol_port"):
        A.parse(A.LISTENER, {"listener": {"protocol_port": 80}}, create=False)
    assert A.parse(A.POOL, {"pool": {"session_persistence": None}}, create=False) == {
        "session_persistence": None}
    with pytest.raises(errors.BadRequest, match="Mandatory field missing"):
        A.parse(A.POOL, {"pool": {"lb_algorithm": None}}, create=False)


def test_hostile_values_are_bounded():
    huge = "x" * 100_000
    with pytest.raises(errors.BadRequest) as caught:
        A.parse(A.LOADBALANCER, {"loadbalancer": {"name": huge}}, create=True)
    assert len(caught.value.message) < 1200
    with pytest.raises(errors.BadRequest):
        A.parse(A.LOADBALANCER, {"loadbalancer": {"tags": ["t"] * 1000}}, create=True)
    with pytest.raises(errors.BadRequest):
        A.parse(A.MEMBER, {"member": {"address": "1" * 10_000, "protocol_port": 1}},
                create=True)
    with pytest.raises(errors.BadRequest):
        A.parse(A.MEMBER, {"member": {"address": "192.0.2.1", "protocol_port": "9" * 5000}},
                create=True)
    with pytest.raises(errors.BadRequest):
        A.parse(A.LOADBALANCER, [], create=True)
