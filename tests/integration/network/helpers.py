"""Small builders shared by the network API tests (through openstacksdk)."""

from __future__ import annotations

import uuid


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def external_network(admin, cidr: str = "172.24.4.0/24", pool=("172.24.4.10", "172.24.4.200")):
    net = admin.sdk.network.create_network(name=name("public"), is_router_external=True)
    sub = admin.sdk.network.create_subnet(
        network_id=net.id, cidr=cidr, ip_version=4, gateway_ip=cidr.rsplit(".", 1)[0] + ".1",
        allocation_pools=[{"start": pool[0], "end": pool[1]}], is_dhcp_enabled=False)
    return net, sub


def tenant_network(who, cidr: str = "10.0.0.0/24", **subnet_args):
    net = who.sdk.network.create_network(name=name("private"))
    sub = who.sdk.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4,
                                        **subnet_args)
    return net, sub


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}
    return body["NeutronError"]
