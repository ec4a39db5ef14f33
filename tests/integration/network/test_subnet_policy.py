"""Who may create a subnet: Neutron's default ``"create_subnet":
"rule:admin_or_network_owner"`` — the network's owner or an admin, nobody else; a
network the caller cannot see is not found, as one that does not exist."""

from __future__ import annotations

import uuid

from tests.integration.network.helpers import error, name, tenant_network


def post_subnet(who, network_id: str, cidr: str):
    with who.http() as c:
        return c.post("/subnets", json={"subnet": {
            "network_id": network_id, "cidr": cidr, "ip_version": 4}})


def test_another_projects_private_network_is_not_found(demo, other):
    """As Neutron: the network is fetched as the caller sees it first, so a hidden
    network answers exactly as one that does not exist (its existence is not told)."""
    net, _ = tenant_network(demo, cidr="10.61.0.0/24")
    hidden = post_subnet(other, net.id, "10.61.1.0/24")
    missing_id = str(uuid.uuid4())
    missing = post_subnet(other, missing_id, "10.61.1.0/24")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert error(hidden)["type"] == error(missing)["type"] == "NetworkNotFound"
    assert error(hidden)["message"].replace(net.id, "ID") == error(missing)[
        "message"].replace(missing_id, "ID")
    assert [s.cidr for s in demo.sdk.network.subnets(network_id=net.id)] == ["10.61.0.0/24"]


def test_a_port_on_it_is_not_found_either(demo, other):
    net, _ = tenant_network(demo, cidr="10.65.0.0/24")
    missing_id = str(uuid.uuid4())
    with other.http() as c:
        hidden = c.post("/ports", json={"port": {"network_id": net.id}})
        missing = c.post("/ports", json={"port": {"network_id": missing_id}})
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert error(hidden)["type"] == error(missing)["type"] == "NetworkNotFound"
    assert error(hidden)["message"].replace(net.id, "ID") == error(missing)[
        "message"].replace(missing_id, "ID")
    assert list(demo.sdk.network.ports(network_id=net.id)) == []


def test_a_member_cannot_add_a_subnet_to_a_shared_network_it_does_not_own(admin, other):
    net = admin.sdk.network.create_network(name=name("shared"), is_shared=True)
    r = post_subnet(other, net.id, "10.62.0.0/24")
    assert r.status_code == 403
    err = error(r)
    assert err["type"] == "PolicyNotAuthorized"
    assert err["message"] == "(rule:create_subnet) is disallowed by policy."
    assert list(admin.sdk.network.subnets(network_id=net.id)) == []


def test_the_owner_and_an_admin_may(admin, demo):
    net, _ = tenant_network(demo, cidr="10.63.0.0/24")
    assert post_subnet(demo, net.id, "10.63.1.0/24").status_code == 201
    assert post_subnet(admin, net.id, "10.63.2.0/24").status_code == 201


def test_a_network_that_does_not_exist_is_not_found(demo):
    r = post_subnet(demo, str(uuid.uuid4()), "10.64.0.0/24")
    assert r.status_code == 404 and error(r)["type"] == "NetworkNotFound"
