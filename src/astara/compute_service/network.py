"""The compute service's view of the network service: a small Protocol and its clients.

``HttpNetwork`` talks to the Neutron v2.0-compatible REST API (ours or a real
Neutron) with httpx, acting for the instance's project with the admin role (binding
a port to a host is admin-only, as in Nova). ``FakeNetwork`` is the in-tree twin unit
tests use; it records what it was asked.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from astara.compute_service import errors


def _seg(value: str) -> str:
    """An id as one path segment: every reserved character quoted, dots too (a ``..``
    must not climb out of the collection)."""
    return quote(value, safe="").replace(".", "%2E")


class NetworkError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


class Network(Protocol):
    def get_network(self, project_id: str, net_id: str) -> dict[str, Any] | None: ...

    def get_port(self, project_id: str, port_id: str,
                 admin: bool = False) -> dict[str, Any] | None: ...

    def create_port(self, project_id: str, net_id: str, fields: dict[str, Any]) -> dict: ...

    def update_port(self, project_id: str, port_id: str, fields: dict[str, Any]) -> dict: ...

    def delete_port(self, project_id: str, port_id: str) -> None: ...

    def subnet_cidr(self, project_id: str, subnet_id: str) -> str | None: ...


class HttpNetwork:
    def __init__(self, url: str, timeout: float = 30.0, transport=None):
        self._client = httpx.Client(base_url=url.rstrip("/") + "/v2.0", timeout=timeout,
                                    transport=transport)
        self._cidrs: dict[str, str] = {}  # a subnet's cidr never changes

    def _headers(self, project_id: str, admin: bool) -> dict[str, str]:
        roles = "admin,member,reader" if admin else "member,reader"
        return {"X-Project-Id": project_id, "X-Roles": roles}

    def _call(self, method: str, path: str, project_id: str, admin: bool = True,
              body: dict | None = None) -> dict | None:
        try:
            resp = self._client.request(method, path, json=body,
                                        headers=self._headers(project_id, admin))
        except httpx.HTTPError as exc:
            raise errors.ComputeFault(f"Network service unreachable: {exc}") from None
        if resp.status_code == 404 and method == "GET":
            return None
        if resp.status_code >= 400:
            detail = resp.json().get("NeutronError", {}) if resp.content else {}
            raise NetworkError(resp.status_code, detail.get("message", resp.text))
        return resp.json() if resp.content else None

    def get_network(self, project_id: str, net_id: str) -> dict | None:
        found = self._call("GET", f"/networks/{_seg(net_id)}", project_id, admin=False)
        return found["network"] if found else None

    def get_port(self, project_id: str, port_id: str, admin: bool = False) -> dict | None:
        found = self._call("GET", f"/ports/{_seg(port_id)}", project_id, admin=admin)
        return found["port"] if found else None

    def create_port(self, project_id: str, net_id: str, fields: dict) -> dict:
        body = {"port": {"network_id": net_id, "project_id": project_id, **fields}}
        return self._call("POST", "/ports", project_id, body=body)["port"]

    def update_port(self, project_id: str, port_id: str, fields: dict) -> dict:
        return self._call("PUT", f"/ports/{_seg(port_id)}", project_id,
                          body={"port": fields})["port"]

    def delete_port(self, project_id: str, port_id: str) -> None:
        try:
            self._call("DELETE", f"/ports/{_seg(port_id)}", project_id)
        except NetworkError as exc:
            if exc.status != 404:
                raise

    def subnet_cidr(self, project_id: str, subnet_id: str) -> str | None:
        if subnet_id not in self._cidrs:
            found = self._call("GET", f"/subnets/{_seg(subnet_id)}", project_id)
            if found is None:
                return None
            self._cidrs[subnet_id] = found["subnet"]["cidr"]
        return self._cidrs[subnet_id]

    def close(self) -> None:
        self._client.close()


class FakeNetwork:
    """Networks and ports in memory; ``calls`` lists (method, id) in order."""

    def __init__(self):
        self.networks: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []

    def add_network(self, project_id: str, name: str = "net", cidr_prefix: str = "10.0.0"):
        net = {"id": str(uuid.uuid4()), "name": name, "project_id": project_id,
               "_prefix": cidr_prefix, "_next": 10}
        self.networks[net["id"]] = net
        return net

    def get_network(self, project_id, net_id):
        net = self.networks.get(net_id)
        return net if net and net["project_id"] == project_id else None

    def get_port(self, project_id, port_id, admin=False):
        port = self.ports.get(port_id)
        return port if port and (admin or port["project_id"] == project_id) else None

    def create_port(self, project_id, net_id, fields):
        net = self.networks[net_id]
        net["_next"] += 1
        port = {"id": str(uuid.uuid4()), "network_id": net_id, "project_id": project_id,
                "mac_address": f"fa:16:3e:00:00:{net['_next']:02x}", "status": "DOWN",
                "fixed_ips": [{"subnet_id": "s-" + net_id[:8],
                               "ip_address": f"{net['_prefix']}.{net['_next']}"}], **fields}
        self.ports[port["id"]] = port
        self.calls.append(("create_port", port["id"]))
        return port

    def update_port(self, project_id, port_id, fields):
        self.ports[port_id].update(fields)
        self.calls.append(("update_port", port_id))
        return self.ports[port_id]

    def delete_port(self, project_id, port_id):
        self.ports.pop(port_id, None)
        self.calls.append(("delete_port", port_id))

    def subnet_cidr(self, project_id, subnet_id):
        net = next((n for n in self.networks.values() if "s-" + n["id"][:8] == subnet_id),
                   None)
        return f"{net['_prefix']}.0/24" if net else None
