"""Bad input refused as Neutron refuses it: scoped addresses, odd numbers, odd JSON, huge echoes."""

from __future__ import annotations

import json

import pytest

from astara.network_service import attributes as A
from astara.network_service import errors, limits, query
from astara.network_service import validators as v
from astara.network_service.context import RequestContext

MEMBER = RequestContext(project_id="p1", roles=("member",))


@pytest.mark.parametrize("validator, value", [
    (v.ip_address, "fd98::77%a"), (v.ip_address, "fe80::1%eth0"), (v.ip_or_none, "fd98::77%1"),
    (v.cidr, "fd98::%a/64"), (v.ip_or_cidr, "fd98::77%a"), (v.ip_or_cidr, "fd98::%a/64"),
    (v.ip_or_cidr, "10.0.0.0/33"), (v.ip_or_cidr, 5),
])
def test_an_address_with_a_scope_is_not_an_address(validator, value):
    with pytest.raises(errors.HTTPBadRequest, match="is not a valid IP"):
        validator("attr", value)


@pytest.mark.parametrize("key, value", [
    ("fixed_ips", [{"ip_address": "fd98::77%a"}]),
    ("allowed_address_pairs", [{"ip_address": "fd98::77%a"}]),
    ("allowed_address_pairs", [{"ip_address": "not an address"}]),
])
def test_port_addresses_with_a_scope_are_refused(key, value):
    with pytest.raises(errors.HTTPBadRequest, match="is not a valid IP"):
        A.parse_body(A.PORT, {"port": {key: value}}, MEMBER, create=True)


@pytest.mark.parametrize("key, value", [
    ("gateway_ip", "10.0.0.1%a"), ("dns_nameservers", ["fd98::1%a"]),
    ("allocation_pools", [{"start": "fd98::2%a", "end": "fd98::9"}]),
    ("host_routes", [{"destination": "10.1.0.0/24", "nexthop": "fd98::1%a"}]),
])
def test_subnet_addresses_with_a_scope_are_refused(key, value):
    with pytest.raises(errors.HTTPBadRequest, match="is not a valid IP"):
        A.parse_body(A.SUBNET, {"subnet": {key: value}}, MEMBER, create=True)


def test_address_pairs_are_normalised():
    out = A.parse_body(A.PORT, {"port": {"allowed_address_pairs": [
        {"ip_address": "FD00::1"}, {"ip_address": "10.0.0.0/24"}]}}, MEMBER, create=True)
    assert out["allowed_address_pairs"] == [{"ip_address": "fd00::1"},
                                            {"ip_address": "10.0.0.0/24"}]


def test_an_infinite_number_is_not_an_integer():
    with pytest.raises(errors.InvalidInput, match="is not an integer"):
        v.integer(68, 9000)("mtu", float("inf"))


def test_a_huge_bad_value_is_not_echoed_whole():
    with pytest.raises(errors.InvalidInput) as info:
        v.boolean("admin_state_up", "x" * 5_000_000)
    assert len(info.value.msg) < 400
    assert "(5000000 characters)" in info.value.msg


def test_every_message_is_bounded():
    err = errors.InvalidInput(error_message="y" * 100_000)
    assert len(err.body()["NeutronError"]["message"]) < 1100


@pytest.mark.parametrize("raw, reason", [
    (b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}", ": nested deeper than 32 levels"),
    (b'{"network": {"name": ' + b"[" * 1000 + b"]" * 1000 + b"}}", ": nested"),
    (b"[" * 200_000 + b"]" * 200_000, ": nested too deeply"),
    (b'{"network": {"name": "\\ud800"}}', ": strings may not contain lone surrogates"),
    (b'{"network": {"name": "a\\u0000"}}', ": strings may not contain NUL"),
    (b'{"network": {"\\u0000": 1}}', ": strings may not contain NUL"),
    (b'{"network": {"name": "\xed\xa0\x80"}}', ": strings may not contain lone surrogates"),
    (b'{"network": {"mtu": NaN}}', ""),
    (b'{"network": {"mtu": -Infinity}}', ""),
    (b'{"network": ', ""),
    (b"not json", ""),
    (b"[]", ""), (b'"network"', ""), (b"1", ""), (b"null", ""),
])
def test_bodies_a_real_parser_refuses(raw, reason):
    """Neutron's body hook: anything but a JSON object is HTTPBadRequest."""
    with pytest.raises(errors.HTTPBadRequest) as info:
        limits.parse_json(raw)
    assert info.value.type == "HTTPBadRequest"
    assert info.value.msg.startswith(f"Body contains invalid data{reason}")


def test_a_body_within_the_bounds_parses():
    body = {"router": {"routes": [{"destination": "10.0.0.0/8", "nexthop": "10.0.0.1"}],
                       "name": "\U0001f600"}}
    assert limits.parse_json(json.dumps(body).encode()) == body


@pytest.mark.parametrize("items, message", [
    ([("name", "a\x00")], "NUL"),
    ([("\x00", "a")], "NUL"),
    ([("gateway_ip", "fd98::1%a")], "is not a valid IP address"),
    ([("fixed_ips", "ip_address=fd98::1%a")], "is not a valid IP address"),
    ([("cidr", "10.0.0.0/24%a")], "is not a valid IP subnet"),
])
def test_query_values_that_are_refused(items, message):
    resource = A.SUBNET if items[0][0] in ("gateway_ip", "cidr") else A.PORT
    with pytest.raises(errors.HTTPBadRequest, match=message):
        query.parse(resource, items, MEMBER, max_page=100)


def test_query_errors_do_not_echo_huge_keys():
    with pytest.raises(errors.HTTPBadRequest) as info:
        query.parse(A.NETWORK, [("k" * 100_000, "1")], MEMBER, max_page=100)
    assert len(info.value.msg) < 400


def test_address_filters_are_normalised():
    q = query.parse(A.PORT, [("fixed_ips", "ip_address=FD00::01")], MEMBER, max_page=100)
    assert q.filters == {"fixed_ips": ["ip_address=fd00::1"]}
