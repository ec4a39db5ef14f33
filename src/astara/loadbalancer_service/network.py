"""The load-balancer service's view of the network service: a small Protocol and its client.

A VIP port is made, read and deleted through the Neutron v2.0-compatible REST API
(ours or a real Neutron) with the caller's identity, so the network API applies its
own rules to what is done on a user's behalf (a member uses only the networks and
ports Neutron's policy gives it). ``FakeNetwork`` is the in-tree twin for tests.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import httpx

from astara.common.network_api import NetworkApi, NetworkError
from astara.loadbalancer_service import errors
from astara.loadbalancer_service.context import RequestContext

__all__ = ["VIP_OWNER", "FakeNetwork", "HttpNetwork", "Network", "NetworkError"]

VIP_OWNER = "Octavia"  # the device_owner Octavia gives its VIP ports


class Network(Protocol):
    def get(self, caller: RequestContext, kind: str, id_: str) -> dict[str, Any] | None: ...

    def create_port(self, caller: RequestContext, fields: dict[str, Any]) -> dict: ...

    def delete_port(self, caller: RequestContext, port_id: str) -> None: ...


class HttpNetwork(NetworkApi):
    """``Network`` over the shared client; an unreachable network service is a 503 in
    Octavia's format."""

    def __init__(self, url: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        super().__init__(url, errors.Unavailable, timeout, transport)

    def create_port(self, caller: RequestContext, fields: dict) -> dict:
        return self.call("POST", "/ports", caller, body={"port": fields})["port"]


class FakeNetwork:
    """Networks, subnets and ports in memory, visible as Neutron's default policy says;
    ``calls`` lists (method, id, caller project) in order."""

    def __init__(self):
        self.items: dict[str, dict[str, dict]] = {"network": {}, "subnet": {}, "port": {}}
        self.calls: list[tuple[str, str, str]] = []
        self._next = 10

    def add_subnet(self, project_id: str, cidr_prefix: str = "10.0.0",
                   shared: bool = False) -> dict:
        net = {"id": str(uuid.uuid4()), "project_id": project_id, "shared": shared,
               "subnets": []}
        sub = {"id": str(uuid.uuid4()), "network_id": net["id"], "project_id": project_id,
               "ip_version": 4, "cidr": f"{cidr_prefix}.0/24", "_prefix": cidr_prefix}
        net["subnets"].append(sub["id"])
        self.items["network"][net["id"]] = net
        self.items["subnet"][sub["id"]] = sub
        return sub

    def _sees(self, caller: RequestContext, kind: str, item: dict) -> bool:
        if caller.is_admin or item["project_id"] == caller.project_id:
            return True
        net = self.items["network"].get(item.get("network_id", item["id"]), {})
        return kind != "port" and bool(net.get("shared"))

    def get(self, caller, kind, id_):
        item = self.items[kind].get(id_)
        return item if item and self._sees(caller, kind, item) else None

    def create_port(self, caller, fields):
        net = self.get(caller, "network", fields["network_id"])
        if net is None:
            raise NetworkError(404, f"Network {fields['network_id']} could not be found.")
        wanted = (fields.get("fixed_ips") or [{}])[0]
        sub = self.items["subnet"][wanted.get("subnet_id") or net["subnets"][0]]
        self._next += 1
        address = wanted.get("ip_address") or f"{sub['_prefix']}.{self._next}"
        if any(a["ip_address"] == address for p in self.items["port"].values()
               for a in p["fixed_ips"]):
            raise NetworkError(409, f"IP address {address} already allocated in subnet "
                               f"{sub['id']}")
        port = {"id": str(uuid.uuid4()), "project_id": fields.get("project_id",
                                                                 caller.project_id),
                "network_id": net["id"], "device_owner": fields.get("device_owner", ""),
                "device_id": fields.get("device_id", ""),
                "fixed_ips": [{"subnet_id": sub["id"], "ip_address": address}]}
        self.items["port"][port["id"]] = port
        self.calls.append(("create_port", port["id"], caller.project_id))
        return port

    def delete_port(self, caller, port_id):
        port = self.items["port"].get(port_id)
        if port is not None and self._sees(caller, "port", port):
            del self.items["port"][port_id]
        self.calls.append(("delete_port", port_id, caller.project_id))
