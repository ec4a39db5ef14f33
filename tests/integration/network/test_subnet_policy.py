"""Who may create a subnet: Neutron's default ``"create_subnet":
"rule:admin_or_network_owner"`` — the network's owner or an admin, nobody else."""

from __future__ import annotations

import uuid

from tests.integration.network.helpers import error, name, tenant_network


def post_subnet(who, network_id: str, cidr: str):
    with who.http() as c:
        return c.post("/subnets", json={"subnet": {
            "network_id": network_id, "cidr": cidr, "ip_version": 4}})


def test_a_member_cannot_add_a_subnet_to_another_projects_network(demo, other):
    net, _ = tenant_network(demo, cidr="10.61.0.0/24")
    r = post_subnet(other, net.id, "10.61.1.0/24")
    assert r.status_code == 403
    err = error(r)
    assert err["type"] == "PolicyNotAuthorized"
    assert err["message"] == "(rule:create_subnet) is disallowed by policy."
    assert [s.cidr for s in demo.sdk.network.subnets(network_id=net.id)] == ["10.61.0.0/24"]


def test_nor_to_a_shared_network(admin, other):
    net = admin.sdk.network.create_network(name=name("shared"), is_shared=True)
    r = post_subnet(other, net.id, "10.62.0.0/24")
    assert r.status_code == 403 and error(r)["type"] == "PolicyNotAuthorized"
    assert list(admin.sdk.network.subnets(network_id=net.id)) == []


def test_the_owner_and_an_admin_may(admin, demo):
    net, _ = tenant_network(demo, cidr="10.63.0.0/24")
    assert post_subnet(demo, net.id, "10.63.1.0/24").status_code == 201
    assert post_subnet(admin, net.id, "10.63.2.0/24").status_code == 201


def test_a_network_that_does_not_exist_is_not_found(demo):
    r = post_subnet(demo, str(uuid.uuid4()), "10.64.0.0/24")
    assert r.status_code == 404 and error(r)["type"] == "NetworkNotFound"
