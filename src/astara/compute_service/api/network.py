"""The compute service's view of the network service: a small Protocol and its clients.

Every call names its caller (a ``Context``: project, user, roles) and ``HttpNetwork``
sends that identity to the Neutron v2.0-compatible REST API (ours or a real Neutron),
so the network API applies its own rules to what the compute service does on a user's
behalf. The one exception is ``bind_port``: binding a port to a host is admin-only in
Neutron, so, as Nova does with its service credentials, it runs as the compute
service's own admin identity, and only on a port the caller was first shown to own.
``FakeNetwork`` is the in-tree twin unit tests use: it applies the same visibility
rules as Neutron's default policy and records who asked for what.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

import httpx

from astara.common.network_api import NetworkApi, NetworkError, plain_id, seg
from astara.compute_service.api import errors
from astara.compute_service.api.context import Context

__all__ = ["FakeNetwork", "HttpNetwork", "Network", "NetworkError"]
LOG = logging.getLogger(__name__)

# Who binds ports (noauth: the identity headers; with Keystone, the service's token).
SERVICE = Context(project_id="astara-service", user_id="astara-compute",
                  roles=("admin",))


class Network(Protocol):
    def get_network(self, caller: Context, net_id: str) -> dict[str, Any] | None: ...

    def get_port(self, caller: Context, port_id: str) -> dict[str, Any] | None: ...

    def get_networks(self, caller: Context, net_ids: list[str]) -> dict[str, dict]: ...

    def get_ports(self, caller: Context, port_ids: list[str]) -> dict[str, dict]: ...

    def create_port(self, caller: Context, net_id: str, fields: dict[str, Any]) -> dict: ...

    def update_port(self, caller: Context, port_id: str, fields: dict[str, Any]) -> dict: ...

    def bind_port(self, port_id: str, host: str) -> dict: ...

    def binds_in_bulk(self) -> bool: ...

    def bind_ports(self, port_ids: list[str], host: str) -> dict[str, dict]: ...

    def unclaim_port(self, port_id: str) -> None: ...

    def delete_port(self, caller: Context, port_id: str) -> None: ...

    def get_port_as_service(self, port_id: str) -> dict[str, Any] | None: ...

    def delete_port_as_service(self, port_id: str) -> None: ...

    def subnet_cidr(self, caller: Context, subnet_id: str) -> str | None: ...


class HttpNetwork:
    """``Network`` over the shared client; an unreachable network service is a 500
    ``ComputeFault`` in Nova's format."""

    def __init__(self, url: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, service: Context = SERVICE,
                 service_auth: httpx.Auth | None = None):
        """``service_auth``: the service's Keystone token for its own calls (``[network]``
        auth section); without it those carry ``service``'s noauth headers."""
        self._api = NetworkApi(url, errors.ComputeFault, timeout, transport)
        self._service = service
        self._service_auth = service_auth
        self._cidrs: dict[str, str] = {}  # a subnet's cidr never changes
        self._bulk: bool | None = None  # does it list astara-port-bindings? (asked once)

    def get_network(self, caller: Context, net_id: str) -> dict | None:
        return self._api.get(caller, "network", net_id)

    def get_port(self, caller: Context, port_id: str) -> dict | None:
        return self._api.get(caller, "port", port_id)

    def get_networks(self, caller: Context, net_ids: list[str]) -> dict[str, dict]:
        """The networks of ``net_ids`` the caller may see, by id (one list call)."""
        return self._api.get_many(caller, "network", net_ids)

    def get_ports(self, caller: Context, port_ids: list[str]) -> dict[str, dict]:
        """The ports of ``port_ids`` the caller may see, by id (one list call)."""
        return self._api.get_many(caller, "port", port_ids)

    def create_port(self, caller: Context, net_id: str, fields: dict) -> dict:
        body = {"port": {"network_id": net_id, **fields}}
        return self._api.call("POST", "/ports", caller, body=body)["port"]

    def update_port(self, caller: Context, port_id: str, fields: dict) -> dict:
        return self._api.call("PUT", f"/ports/{seg(port_id)}", caller,
                              body={"port": fields})["port"]

    def bind_port(self, port_id: str, host: str) -> dict:
        return self._api.call("PUT", f"/ports/{seg(port_id)}", self._service,
                              body={"port": {"binding:host_id": host}},
                              auth=self._service_auth)["port"]

    def binds_in_bulk(self) -> bool:
        """Does the network API bind several ports in one call (ours does; a Neutron
        does not)? Asked once, by its extension's alias."""
        if self._bulk is None:
            try:
                found = self._api.call("GET", "/extensions/astara-port-bindings",
                                       self._service, auth=self._service_auth)
            except NetworkError as exc:  # not known yet: one call per port, asked again
                LOG.warning("network API extensions not readable (%s): ports bound one "
                            "at a time", exc)
                return False
            self._bulk = found is not None
        return self._bulk

    def bind_ports(self, port_ids: list[str], host: str) -> dict[str, dict]:
        """Bind every port to ``host`` in one transaction (all or none), as the service:
        one call where three ``bind_port`` waited their turn on the database."""
        body = {"bindings": [{"port_id": p, "host": host} for p in port_ids]}
        found = self._api.call("PUT", "/astara_port_bindings", self._service, body=body,
                               auth=self._service_auth)
        return {p["id"]: p for p in (found or {}).get("ports", [])}

    def unclaim_port(self, port_id: str) -> None:
        """Clear a port's device with the service's identity (see ports.release)."""
        self._api.call("PUT", f"/ports/{seg(port_id)}", self._service,
                       body={"port": {"device_id": "", "device_owner": ""}},
                       auth=self._service_auth)

    def delete_port(self, caller: Context, port_id: str) -> None:
        self._api.delete_port(caller, port_id)

    def get_port_as_service(self, port_id: str) -> dict | None:
        """A port as the service sees it (any project's), or None when gone."""
        if not plain_id(port_id):
            return None
        found = self._api.call("GET", f"/ports/{seg(port_id)}", self._service,
                               auth=self._service_auth)
        return found["port"] if found else None

    def delete_port_as_service(self, port_id: str) -> None:
        """Delete a port the service made for a server (see ports.release); one
        already gone is fine."""
        try:
            self._api.call("DELETE", f"/ports/{seg(port_id)}", self._service,
                           auth=self._service_auth)
        except NetworkError as exc:
            if exc.status != 404:
                raise

    def subnet_cidr(self, caller: Context, subnet_id: str) -> str | None:
        if subnet_id not in self._cidrs:
            found = self._api.get(caller, "subnet", subnet_id)
            if found is None:
                return None
            self._cidrs[subnet_id] = found["cidr"]
        return self._cidrs[subnet_id]

    def close(self) -> None:
        self._api.close()


class FakeNetwork:
    """Networks and ports in memory, with Neutron's default visibility rules.

    ``calls`` lists (method, id, who) in order, ``who`` being the caller's project or
    ``"service"`` for the admin binding step; ``reads`` the reads of several at once.
    """

    def __init__(self):
        self.networks: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.reads: list[tuple[str, tuple[str, ...], str]] = []  # the list calls (by ids)
        # As Neutron 2025.1 on: a member may not delete a compute:* port.
        self.compute_ports_service_only = False
        self.bulk = False  # True: binds several ports in one call, as our network API

    def add_network(self, project_id: str, name: str = "net", cidr_prefix: str = "10.0.0",
                    external: bool = False, shared: bool = False):
        net = {"id": str(uuid.uuid4()), "name": name, "project_id": project_id,
               "router:external": external, "shared": shared,
               "_prefix": cidr_prefix, "_next": 10}
        self.networks[net["id"]] = net
        return net

    def add_port(self, project_id: str, net_id: str, **fields) -> dict:
        """A port made directly in the network service (by its owner or an admin)."""
        return self._new_port(project_id, net_id, fields)

    def _new_port(self, project_id: str, net_id: str, fields: dict) -> dict:
        net = self.networks[net_id]
        net["_next"] += 1
        port = {"id": str(uuid.uuid4()), "network_id": net_id, "project_id": project_id,
                "mac_address": f"fa:16:3e:00:00:{net['_next']:02x}", "status": "DOWN",
                "device_id": "", "device_owner": "", "binding:host_id": "",
                "fixed_ips": [{"subnet_id": "s-" + net_id[:8],
                               "ip_address": f"{net['_prefix']}.{net['_next']}"}], **fields}
        self.ports[port["id"]] = port
        return port

    @staticmethod
    def _sees_network(caller: Context, net: dict) -> bool:
        return (caller.is_admin or net["project_id"] == caller.project_id or net["shared"]
                or net["router:external"])

    def _sees_port(self, caller: Context, port: dict) -> bool:
        # Neutron shows a network's owner the ports others made on it.
        net = self.networks.get(port["network_id"], {})
        return caller.is_admin or caller.project_id in (port["project_id"],
                                                        net.get("project_id"))

    def get_network(self, caller, net_id):
        net = self.networks.get(net_id)
        return net if net and self._sees_network(caller, net) else None

    def get_port(self, caller, port_id):
        port = self.ports.get(port_id)
        return port if port and self._sees_port(caller, port) else None

    def get_networks(self, caller, net_ids):
        self.reads.append(("get_networks", tuple(net_ids), caller.project_id))
        return {i: n for i in net_ids
                if (n := self.networks.get(i)) is not None and self._sees_network(caller, n)}

    def get_ports(self, caller, port_ids):
        self.reads.append(("get_ports", tuple(port_ids), caller.project_id))
        return {i: p for i in port_ids
                if (p := self.ports.get(i)) is not None and self._sees_port(caller, p)}

    def create_port(self, caller, net_id, fields):
        net = self.networks.get(net_id)
        if net is None or not (caller.is_admin or net["project_id"] == caller.project_id
                               or net["shared"]):
            raise NetworkError(404, f"Network {net_id} could not be found.")
        if "binding:host_id" in fields and not caller.is_admin:
            raise NetworkError(403, "create_port:binding:host_id is not allowed")
        fields = dict(fields)
        project = fields.pop("project_id", caller.project_id)
        port = self._new_port(project, net_id, fields)
        self.calls.append(("create_port", port["id"], caller.project_id))
        return port

    def update_port(self, caller, port_id, fields):
        port = self.get_port(caller, port_id)
        if port is None:
            raise NetworkError(404, f"Port {port_id} could not be found.")
        if "binding:host_id" in fields and not caller.is_admin:
            raise NetworkError(403, "update_port:binding:host_id is not allowed")
        port.update(fields)
        self.calls.append(("update_port", port_id, caller.project_id))
        return port

    def unclaim_port(self, port_id):
        port = self.ports.get(port_id)
        if port is None:
            raise NetworkError(404, f"Port {port_id} could not be found.")
        port.update(device_id="", device_owner="")
        self.calls.append(("unclaim_port", port_id, "service"))

    def bind_port(self, port_id, host):
        port = self.ports.get(port_id)
        if port is None:
            raise NetworkError(404, f"Port {port_id} could not be found.")
        port["binding:host_id"] = host
        self.calls.append(("bind_port", port_id, "service"))
        return port

    def binds_in_bulk(self):
        return self.bulk

    def bind_ports(self, port_ids, host):
        if not self.bulk:
            raise NetworkError(404, "The resource could not be found.")
        missing = [p for p in port_ids if p not in self.ports]
        if missing:  # one transaction: none is bound
            raise NetworkError(404, f"Port {missing[0]} could not be found.")
        for port_id in port_ids:
            self.ports[port_id]["binding:host_id"] = host
        self.calls.append(("bind_ports", ",".join(port_ids), "service"))
        return {p: self.ports[p] for p in port_ids}

    def delete_port(self, caller, port_id):
        port = self.ports.get(port_id)
        self.calls.append(("delete_port", port_id, caller.project_id))
        if port is not None and self.compute_ports_service_only \
                and str(port.get("device_owner", "")).startswith("compute:") \
                and "admin" not in caller.roles:
            raise NetworkError(403, "rule:delete_port is disallowed by policy")
        if port is not None and self._sees_port(caller, port):
            del self.ports[port_id]

    def get_port_as_service(self, port_id):
        self.calls.append(("get_port_as_service", port_id, "service"))
        return self.ports.get(port_id)

    def delete_port_as_service(self, port_id):
        self.ports.pop(port_id, None)
        self.calls.append(("delete_port_as_service", port_id, "service"))

    def subnet_cidr(self, caller, subnet_id):
        net = next((n for n in self.networks.values() if "s-" + n["id"][:8] == subnet_id),
                   None)
        return f"{net['_prefix']}.0/24" if net else None
