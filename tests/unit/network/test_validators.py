"""Attribute validation: Neutron's messages for bad values, clean values for good ones."""

from __future__ import annotations

import pytest

from astara.network_service import attributes as A
from astara.network_service import errors
from astara.network_service import validators as v
from astara.network_service.context import RequestContext

MEMBER = RequestContext(project_id="p1", roles=("member",))
ADMIN = RequestContext(project_id="a1", roles=("admin",))


@pytest.mark.parametrize("validator, value, expected", [
    (v.boolean, "True", True), (v.boolean, False, False), (v.boolean, 1, True),
    (v.integer(68), "1500", 1500), (v.cidr, "10.0.0.0/8", "10.0.0.0/8"),
    (v.cidr, "FD00::/64", "fd00::/64"), (v.ip_address, "fd00::01", "fd00::1"),
    (v.mac_address, "FA:16:3E:00:00:01", "fa:16:3e:00:00:01"),
    (v.uuid_or_none, None, None),
])
def test_valid(validator, value, expected):
    assert validator("attr", value) == expected


@pytest.mark.parametrize("validator, value, reason", [
    (v.integer(68), 10, "too small"),
    (v.int_in(4, 6), 5, "is not in [4, 6]"),
    (v.subnet_cidr, "10.0.0.7/24", "is recommended"),
    (v.cidr, "10.0.0.0", "not a valid IP subnet"),
    (v.cidr, "10.0.0.7/24", "is recommended"),
    (v.ip_address, "10.0.0.256", "not a valid IP address"),
    (v.mac_address, "01:00:00:00:00:01", "not a valid MAC address"),
    (v.uuid_str, "nope", "not a valid UUID"),
    (v.string(3), "long", "exceeds maximum length"),
    (v.list_of(v.ip_address, unique=True), ["10.0.0.1", "10.0.0.1"], "Duplicate"),
])
def test_invalid(validator, value, reason):
    with pytest.raises(errors.HTTPBadRequest) as exc:
        validator("attr", value)
    assert exc.value.status == 400
    assert exc.value.type == "HTTPBadRequest"
    assert exc.value.msg.startswith("Invalid input for attr. Reason: ")
    assert reason in exc.value.msg


@pytest.mark.parametrize("validator, value, message", [
    (v.boolean, "yes", "'yes' cannot be converted to boolean"),
    (v.boolean, [True], "'[True]' cannot be converted to boolean"),
    (v.integer(68), "x", "'x' is not an integer"),
    (v.integer(68), True, "'True' is not an integer"),
    (v.int_in(4, 6), "six", "'six' is not an integer"),
    (v.subnet_cidr, "banana", "banana is not in a CIDR format"),
    (v.subnet_cidr, "10.0.0.0/33", "10.0.0.0/33 is not in a CIDR format"),
    (v.subnet_cidr, 24, "24 is not in a CIDR format"),
])
def test_values_neutron_cannot_convert_are_invalid_input(validator, value, message):
    """Neutron's converters (not its validators) refuse these: type InvalidInput."""
    with pytest.raises(errors.InvalidInput) as exc:
        validator("attr", value)
    assert exc.value.status == 400
    assert exc.value.type == "InvalidInput"
    assert exc.value.msg == f"Invalid input for operation: {message}."


def test_create_fills_defaults_and_project():
    out = A.parse_body(A.NETWORK, {"network": {"name": "n"}}, MEMBER, create=True)
    assert out["project_id"] == "p1"
    assert out["admin_state_up"] is True
    assert out["shared"] is False
    assert "tenant_id" not in out


def test_update_keeps_only_given_values():
    assert A.parse_body(A.NETWORK, {"network": {"name": "n"}}, MEMBER, create=False) == {
        "name": "n"}


@pytest.mark.parametrize("body, ctx, error, fragment", [
    ({"network": {"colour": 1}}, MEMBER, errors.HTTPBadRequest, "Unrecognized attribute"),
    ({"network": {"status": "UP"}}, MEMBER, errors.HTTPBadRequest, "not allowed in POST"),
    ({"network": {"shared": True}}, MEMBER, errors.PolicyNotAuthorized, "create_network:shared"),
    ({"network": {"tenant_id": "p2"}}, MEMBER, errors.HTTPBadRequest, "requires admin"),
    ({"network": {"tenant_id": "p2", "project_id": "p3"}}, ADMIN, errors.HTTPBadRequest,
     "do not match"),
    ({"netwerk": {}}, MEMBER, errors.HTTPBadRequest, "Unable to find 'network'"),
    ({"network": []}, MEMBER, errors.HTTPBadRequest, "invalid data"),
])
def test_bad_bodies(body, ctx, error, fragment):
    with pytest.raises(error) as exc:
        A.parse_body(A.NETWORK, body, ctx, create=True)
    assert fragment in exc.value.msg


def test_admin_may_create_for_another_project():
    out = A.parse_body(A.NETWORK, {"network": {"tenant_id": "p2"}}, ADMIN, create=True)
    assert out["project_id"] == "p2"


def test_gateway_info_clears_with_empty_dict():
    out = A.parse_body(A.ROUTER, {"router": {"external_gateway_info": {}}}, MEMBER, create=False)
    assert out == {"external_gateway_info": None}
