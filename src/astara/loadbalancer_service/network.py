"""The load-balancer service's view of the network service: a small Protocol and its client.

A VIP port is made, read and deleted through the Neutron v2.0-compatible REST API
(ours or a real Neutron) with the caller's identity, so the network API applies its
own rules to what is done on a user's behalf (a member uses only the networks and
ports Neutron's policy gives it). ``FakeNetwork`` is the in-tree twin for tests.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from astara.common import http_pool
from astara.loadbalancer_service import errors
from astara.loadbalancer_service.context import RequestContext

_ID = re.compile(r"[A-Za-z0-9._:-]{1,255}")
VIP_OWNER = "Octavia"  # the device_owner Octavia gives its VIP ports


class NetworkError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


class Network(Protocol):
    def get(self, caller: RequestContext, kind: str, id_: str) -> dict[str, Any] | None: ...

    def create_port(self, caller: RequestContext, fields: dict[str, Any]) -> dict: ...

    def delete_port(self, caller: RequestContext, port_id: str) -> None: ...


def identity_headers(caller: RequestContext) -> dict[str, str]:
    headers = {"X-Project-Id": caller.project_id, "X-Roles": ",".join(caller.roles)}
    if caller.user_id:
        headers["X-User-Id"] = caller.user_id
    return headers


def _seg(value: str) -> str:
    return quote(value, safe="").replace(".", "%2E")


class HttpNetwork:
    def __init__(self, url: str, timeout: float = 30.0, transport=None):
        self._client = httpx.Client(base_url=url.rstrip("/") + "/v2.0", timeout=timeout,
                                    transport=transport, limits=http_pool.limits())

    def _call(self, method: str, path: str, caller: RequestContext,
              body: dict | None = None) -> dict | None:
        try:
            resp = self._client.request(method, path, json=body,
                                        headers=identity_headers(caller))
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"Network service unreachable: {exc}") from None
        if resp.status_code == 404 and method == "GET":
            return None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("NeutronError", {}) if resp.content else {}
            except ValueError:
                detail = {}
            message = detail.get("message", resp.text) if isinstance(detail, dict) \
                else resp.text
            raise NetworkError(resp.status_code, message)
        return resp.json() if resp.content else None

    def get(self, caller: RequestContext, kind: str, id_: str) -> dict | None:
        """A network, subnet or port the caller may see, or None."""
        if not _ID.fullmatch(id_) or id_.strip(".") == "":
            return None
        found = self._call("GET", f"/{kind}s/{_seg(id_)}", caller)
        return found[kind] if found else None

    def create_port(self, caller: RequestContext, fields: dict) -> dict:
        return self._call("POST", "/ports", caller, body={"port": fields})["port"]

    def delete_port(self, caller: RequestContext, port_id: str) -> None:
        try:
            self._call("DELETE", f"/ports/{_seg(port_id)}", caller)
        except NetworkError as exc:
            if exc.status != 404:
                raise

    def close(self) -> None:
        self._client.close()


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
