"""Example appliance config documents, for tests, benchmarks and the docs.

`router_config()` builds a complete, valid router document on test-net addresses
(management fdca::/64, external 203.0.113.0/24, internal 192.0.2.0/24 dual-stack
with fd00:1::/64 and 198.51.100.0/24); callers override what they need.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from astara.wire.appliance_config import ApplianceConfig

MGMT_MAC = "fa:16:3e:00:00:01"
EXT_MAC = "fa:16:3e:00:00:02"
INT1_MAC = "fa:16:3e:00:00:03"
INT2_MAC = "fa:16:3e:00:00:04"


def router_document(n_floating: int = 0, **overrides: Any) -> dict[str, Any]:
    """A plain JSON-able document (what travels on the wire)."""
    doc: dict[str, Any] = {
        "version": "1",
        "hostname": "ak-router-1",
        "tenant_id": "tenant-a",
        "networks": [
            {
                "network_id": "mgmt",
                "network_type": "management",
                "interface": {"mac_address": MGMT_MAC, "addresses": ["fdca::2/64"]},
            },
            {
                "network_id": "ext",
                "network_type": "external",
                "interface": {"mac_address": EXT_MAC, "addresses": ["203.0.113.2/24"]},
                "subnets": [{"cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1"}],
            },
            internal_network("net1", INT1_MAC, "192.0.2.1/24", "fd00:1::1/64"),
            internal_network("net2", INT2_MAC, "198.51.100.1/24"),
        ],
        "default_v4_gateway": "203.0.113.1",
        "floating_ips": floating_ips(n_floating),
        "orchestrator": {"address": "fdca::1", "metadata_port": 9697},
    }
    doc.update(overrides)
    return doc


def internal_network(network_id: str, mac: str, *addresses: str) -> dict[str, Any]:
    subnets = []
    for addr in addresses:
        iface = ipaddress.ip_interface(addr)
        subnet: dict[str, Any] = {"cidr": str(iface.network), "gateway_ip": str(iface.ip)}
        if iface.version == 6:
            subnet.update(ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
        subnets.append(subnet)
    return {
        "network_id": network_id,
        "network_type": "internal",
        "interface": {"mac_address": mac, "addresses": list(addresses)},
        "subnets": subnets,
    }


def floating_ips(count: int, base: str = "203.0.113.0", fixed: str = "192.0.2.0") -> list:
    """`count` distinct floating IPs; beyond 240 they leave the test-net /24s."""
    f0, x0 = ipaddress.ip_address(base), ipaddress.ip_address(fixed)
    return [
        {"floating_ip": str(f0 + 10 + i), "fixed_ip": str(x0 + 10 + i)}
        for i in range(count)
    ]


def router_config(n_floating: int = 0, **overrides: Any) -> ApplianceConfig:
    return ApplianceConfig.model_validate(router_document(n_floating, **overrides))


def loadbalancer_document(**lb_overrides: Any) -> dict[str, Any]:
    """A load balancer appliance: management + a VIP on 192.0.2.0/24 (gateway .1, the
    subnet's router), an HTTP listener on port 80 round-robin over two members and a
    TCP listener on 443 to a TCP pool, both monitored."""
    vip = internal_network("vipnet", INT1_MAC, "192.0.2.10/24")
    vip["subnets"][0]["gateway_ip"] = "192.0.2.1"
    vip["subnets"][0]["dhcp_enabled"] = False
    lb: dict[str, Any] = {
        "id": "lb-1",
        "vip_address": "192.0.2.10",
        "listeners": [
            {"id": "listener-http", "protocol": "HTTP", "protocol_port": 80,
             "default_pool_id": "pool-http"},
            {"id": "listener-tcp", "protocol": "TCP", "protocol_port": 443,
             "default_pool_id": "pool-tcp"},
        ],
        "pools": [
            {"id": "pool-http", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [
                 {"id": "member-1", "address": "192.0.2.21", "protocol_port": 8080},
                 {"id": "member-2", "address": "198.51.100.22", "protocol_port": 8080},
             ],
             "healthmonitor": {"id": "hm-http", "type": "HTTP", "delay": 2, "timeout": 1,
                               "max_retries": 2, "url_path": "/healthz"}},
            {"id": "pool-tcp", "protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS",
             "members": [{"id": "member-3", "address": "192.0.2.21", "protocol_port": 8443}],
             "healthmonitor": {"id": "hm-tcp", "type": "TCP", "delay": 2, "timeout": 1,
                               "max_retries": 2}},
        ],
    }
    lb.update(lb_overrides)
    return {
        "version": "1",
        "hostname": "ak-lb-1",
        "tenant_id": "tenant-a",
        "networks": [
            {"network_id": "mgmt", "network_type": "management",
             "interface": {"mac_address": MGMT_MAC, "addresses": ["fdca::3/64"]}},
            vip,
        ],
        "default_v4_gateway": "192.0.2.1",
        "orchestrator": {"address": "fdca::1", "metadata_port": 9697},
        "loadbalancer": lb,
    }
