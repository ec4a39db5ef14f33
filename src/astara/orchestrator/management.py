"""The management network: where appliances listen and the orchestrator reaches them.

At start the orchestrator finds the network by name through the network API, or
creates it (admin, IPv6 subnet of ``management_prefix``, addresses from ``::10``
so the host's ``::1`` stays free, no gateway: it routes nowhere).
"""

from __future__ import annotations

import ipaddress

import httpx

from astara.orchestrator.opts import OrchestratorSettings


def ensure_network(o: OrchestratorSettings, http: httpx.Client) -> str:
    found = http.get("/v2.0/networks", params={"name": o.management_network_name}).json()
    if found.get("networks"):
        return found["networks"][0]["id"]
    net = http.post("/v2.0/networks", json={"network": {
        "name": o.management_network_name, "shared": False}})
    net.raise_for_status()
    net_id = net.json()["network"]["id"]
    prefix = ipaddress.ip_network(o.management_prefix)
    sub = http.post("/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "name": f"{o.management_network_name}-subnet",
        "ip_version": prefix.version, "cidr": str(prefix), "gateway_ip": None,
        "enable_dhcp": False,
        "allocation_pools": [{"start": str(prefix.network_address + 0x10),
                              "end": str(prefix.broadcast_address - (prefix.version == 4))}]}})
    sub.raise_for_status()
    return net_id
