"""Bad input gets Neutron's error bodies and statuses, never a traceback."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.network.helpers import error, name, tenant_network


def test_request_without_project_is_refused(network_api):
    r = httpx.get(f"{network_api.url}/v2.0/networks")
    assert r.status_code == 401
    assert error(r)["type"] == "Unauthorized"


def test_version_document_is_public(network_api):
    r = httpx.get(f"{network_api.url}/")
    assert r.json()["versions"][0]["id"] == "v2.0"


def test_malformed_json(demo):
    with demo.http() as c:
        r = c.post("/networks", content=b'{"network": {"name": ')
    assert r.status_code == 400
    assert error(r)["type"] == "HTTPBadRequest"


def test_missing_resource_key(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"netwrk": {}})
    assert r.status_code == 400
    assert "Unable to find 'network'" in error(r)["message"]


def test_unknown_attribute(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"name": "n", "colour": "red"}})
    assert r.status_code == 400
    assert error(r)["message"] == "Unrecognized attribute(s) 'colour'"


def test_a_value_a_validator_refuses_is_http_bad_request(demo):
    """Neutron converts first (InvalidInput, below), then validates: HTTPBadRequest."""
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"name": 5}})
        assert r.status_code == 400
        assert error(r) == {"type": "HTTPBadRequest", "detail": "",
                            "message": "Invalid input for name. Reason: '5' is not a valid "
                                       "string."}


def test_read_only_attribute_in_post(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"status": "DOWN"}})
    assert r.status_code == 400
    assert error(r)["message"] == "Attribute 'status' not allowed in POST"


def test_not_found(demo):
    with demo.http() as c:
        r = c.get("/networks/00000000-0000-0000-0000-000000000000")
        assert r.status_code == 404
        assert error(r)["type"] == "NetworkNotFound"
        r = c.get("/widgets")
        assert r.status_code == 404
        error(r)


def test_other_project_requires_admin(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"project_id": "someone-else"}})
    assert r.status_code == 400
    assert "requires admin" in error(r)["message"]


@pytest.mark.parametrize("raw", [b"not json", b'{"network": ', b"[]", b'"network"', b"7"])
def test_a_body_that_is_no_json_object_is_http_bad_request(demo, raw):
    """Neutron's body hook: anything but a JSON object, on any write."""
    net = demo.sdk.network.create_network(name=name("n"))
    router = demo.sdk.network.create_router(name=name("r"))
    with demo.http() as c:
        for method, url in (("POST", "/networks"), ("PUT", f"/networks/{net.id}"),
                            ("PUT", f"/routers/{router.id}/add_router_interface")):
            r = c.request(method, url, content=raw)
            assert r.status_code == 400, (method, url, r.text)
            assert error(r) == {"type": "HTTPBadRequest", "message": "Body contains invalid data",
                                "detail": ""}


def test_a_body_without_the_resource_key_is_http_bad_request(demo):
    net = demo.sdk.network.create_network(name=name("n"))
    with demo.http() as c:
        for method, url in (("POST", "/networks"), ("PUT", f"/networks/{net.id}")):
            r = c.request(method, url, json={"netwrk": {"name": "x"}})
            assert r.status_code == 400
            assert error(r) == {"type": "HTTPBadRequest", "detail": "",
                                "message": "Unable to find 'network' in request body"}


@pytest.mark.parametrize("plural, body, message", [
    ("networks", {"network": {"admin_state_up": "maybe"}},
     "'maybe' cannot be converted to boolean"),
    ("networks", {"network": {"mtu": "big"}}, "'big' is not an integer"),
    ("subnets", {"subnet": {"cidr": "10.0.0.0/24", "ip_version": "four"}},
     "'four' is not an integer"),
    ("subnets", {"subnet": {"cidr": "banana", "ip_version": 4}}, "banana is not in a CIDR format"),
    ("subnets", {"subnet": {"cidr": "10.0.0.0/33", "ip_version": 4}},
     "10.0.0.0/33 is not in a CIDR format"),
    ("subnets", {"subnet": {"cidr": "10.0.0.0/24", "ip_version": 4, "enable_dhcp": []}},
     "'[]' cannot be converted to boolean"),
])
def test_a_value_of_the_wrong_type_is_invalid_input(demo, plural, body, message):
    net = demo.sdk.network.create_network(name=name("n"))
    if plural == "subnets":
        body["subnet"]["network_id"] = net.id
    with demo.http() as c:
        r = c.post(f"/{plural}", json=body)
    assert r.status_code == 400
    assert error(r) == {"type": "InvalidInput", "detail": "",
                        "message": f"Invalid input for operation: {message}."}
    assert demo.sdk.network.get_network(net.id).subnet_ids == []


def test_a_fixed_ip_on_another_networks_subnet_is_invalid_input(demo):
    net, _ = tenant_network(demo, cidr="10.63.0.0/24")
    other_net, other_sub = tenant_network(demo, cidr="10.64.0.0/24")
    port = demo.sdk.network.create_port(network_id=net.id)
    message = (f"Invalid input for operation: Failed to create port on network {other_net.id}, "
               f"because fixed_ips included invalid subnet {other_sub.id}.")
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net.id,
                                            "fixed_ips": [{"subnet_id": other_sub.id}]}})
        assert r.status_code == 400
        assert error(r) == {"type": "InvalidInput", "message": message, "detail": ""}
        r = c.put(f"/ports/{port.id}", json={"port": {"fixed_ips": [
            {"subnet_id": other_sub.id, "ip_address": "10.64.0.9"}]}})
        assert r.status_code == 400
        assert error(r) == {"type": "InvalidInput", "message": message, "detail": ""}
    assert demo.sdk.network.get_port(port.id).fixed_ips[0]["ip_address"] == "10.63.0.2"


def test_a_duplicate_requested_address_is_ip_address_already_allocated(demo):
    net, sub = tenant_network(demo, cidr="10.65.0.0/24")
    first = demo.sdk.network.create_port(network_id=net.id)
    second = demo.sdk.network.create_port(network_id=net.id)
    taken = first.fixed_ips[0]["ip_address"]
    expected = {"type": "IpAddressAlreadyAllocated", "detail": "",
                "message": f"IP address {taken} already allocated in subnet {sub.id}"}
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net.id,
                                            "fixed_ips": [{"ip_address": taken}]}})
        assert r.status_code == 409
        assert error(r) == expected
        r = c.put(f"/ports/{second.id}", json={"port": {"fixed_ips": [
            {"subnet_id": sub.id, "ip_address": taken}]}})
        assert r.status_code == 409
        assert error(r) == expected
    assert demo.sdk.network.get_port(second.id).fixed_ips == second.fixed_ips
