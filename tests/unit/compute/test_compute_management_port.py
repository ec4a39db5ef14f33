"""Which stored port is an appliance's management port: decided by the compute API from
the network's owner or id (the network API's record), never from its name."""

from __future__ import annotations

import pytest

from astara.compute_service.api import ports
from astara.compute_service.api.bodies import NetworkRequest
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import FakeNetwork

SERVICE = "astara-service"
MGMT = {"id": "n-mgmt", "name": "astara-mgmt", "project_id": SERVICE}


@pytest.mark.parametrize("network, project, management, expected", [
    (MGMT, SERVICE, "astara-mgmt", True),  # by name, owned by the server's project
    (MGMT, SERVICE, "n-mgmt", True),  # by id (the operator's word)
    ({**MGMT, "project_id": None, "tenant_id": SERVICE}, SERVICE, "astara-mgmt", True),
    (MGMT, SERVICE, "", False),  # not an appliance
    (None, SERVICE, "astara-mgmt", False),
    # a tenant's network called like it (before or after the real one, shared or not)
    ({**MGMT, "id": "n-t", "project_id": "tenant"}, SERVICE, "astara-mgmt", False),
    ({**MGMT, "id": "n-t", "project_id": "tenant", "shared": True}, SERVICE, "astara-mgmt",
     False),
    # an admin's network in another project: not the appliance's project's
    ({**MGMT, "id": "n-a", "project_id": "admin"}, SERVICE, "astara-mgmt", False),
    ({**MGMT, "project_id": ""}, "", "astara-mgmt", False),  # no owner: never by name
    ({**MGMT, "name": "other"}, SERVICE, "astara-mgmt", False),
    ({**MGMT, "id": "n-t", "project_id": "tenant"}, SERVICE, "n-mgmt", False),
])
def test_is_management(network, project, management, expected):
    assert ports.is_management(network, project, management) is expected


def test_an_appliances_ports_are_marked_from_their_networks_owner():
    net = FakeNetwork()
    tenant_first = net.add_network("tenant", "astara-mgmt", "10.1.0")  # made before ours
    mgmt = net.add_network(SERVICE, "astara-mgmt", "10.2.0")
    router_port = net.add_port("tenant", tenant_first["id"],
                               device_owner="network:router_interface")
    admin = Context(SERVICE, roles=("admin",))
    made = ports.allocate(net, admin, SERVICE, "server", "host", "nova",
                          (NetworkRequest(net_id=mgmt["id"]),
                           NetworkRequest(port_id=router_port["id"])),
                          management="astara-mgmt")
    assert [(p["network_name"], p["management"]) for p in made] == [
        ("astara-mgmt", True), ("astara-mgmt", False)]
    # a server that is no appliance never has one
    again = ports.allocate_one(net, admin, SERVICE, "s2", "host", "nova",
                               NetworkRequest(net_id=mgmt["id"]))
    assert again["management"] is False
