"""Ports of an instance, allocated and released through the network service's API.

``allocate`` turns ``networks: [{uuid}|{port}]`` into bound ports: a new port on a
network (device_owner ``compute:<az>``, device_id the server id, binding:host_id the
host) or an existing port bound the same way; it deletes what it created if a later
one fails. ``release`` deletes the ports the compute service created and unbinds the
ones it was given, as Nova does. Ports are stored on the instance in a plain form.
"""

from __future__ import annotations

import logging

from astara.compute_service import errors
from astara.compute_service.bodies import NetworkRequest
from astara.compute_service.network import Network, NetworkError

LOG = logging.getLogger(__name__)


def stored(port: dict, network_name: str, owned: bool,
           cidrs: dict[str, str | None] | None = None) -> dict:
    fixed = []
    for ip in port.get("fixed_ips", []):
        entry = {"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}
        cidr = (cidrs or {}).get(ip["subnet_id"])
        if cidr:
            entry["prefixlen"] = int(cidr.rsplit("/", 1)[1])
        fixed.append(entry)
    return {"port_id": port["id"], "net_id": port["network_id"], "network_name": network_name,
            "mac_address": port.get("mac_address", ""), "status": port.get("status", "DOWN"),
            "fixed_ips": fixed, "owned": owned,
            # what the host's anti-spoofing filter allows (absent: Neutron's default)
            "port_security_enabled": port.get("port_security_enabled", True),
            "allowed_address_pairs": [
                {"ip_address": p["ip_address"], "mac_address": p.get("mac_address")
                 or port.get("mac_address", "")}
                for p in port.get("allowed_address_pairs") or ()]}


def _cidrs(net: Network, project_id: str, port: dict) -> dict[str, str | None]:
    """Subnet id -> cidr of the port's fixed IPs (the backend needs prefix lengths)."""
    out: dict[str, str | None] = {}
    for ip in port.get("fixed_ips", []):
        if ip["subnet_id"] not in out:
            try:
                out[ip["subnet_id"]] = net.subnet_cidr(project_id, ip["subnet_id"])
            except NetworkError:
                out[ip["subnet_id"]] = None
    return out


def _binding(server_id: str, host: str, az: str) -> dict:
    return {"device_id": server_id, "device_owner": f"compute:{az}", "binding:host_id": host}


def is_service_port(port: dict) -> bool:
    """A router's or appliance's own port (``network:*``): plugged, never re-owned.

    An appliance instance carries its router's interface, gateway and management
    ports; they keep the router as their device so the network model stays right.
    """
    return str(port.get("device_owner", "")).startswith("network:")


def allocate_one(net: Network, project_id: str, server_id: str, host: str, az: str,
                 want: NetworkRequest, admin: bool = False) -> dict:
    if want.port_id:
        # Only an admin (the orchestrator) may plug a router's own ports.
        port = net.get_port(project_id, want.port_id, admin=admin)
        if port is None:
            raise errors.BadRequest(f"Port {want.port_id} could not be found.")
        service = is_service_port(port)
        if service and not admin:
            raise errors.Conflict(f"Port {want.port_id} is still in use.")
        if port.get("device_id") and port["device_id"] != server_id and not service:
            raise errors.Conflict(f"Port {want.port_id} is still in use.")
        network = net.get_network(project_id, port["network_id"]) or {}
        binding = {"binding:host_id": host} if service else _binding(server_id, host, az)
        port = net.update_port(project_id, port["id"], binding)
        return {**stored(port, network.get("name", ""), owned=False,
                         cidrs=_cidrs(net, project_id, port)), "service": service}
    network = net.get_network(project_id, want.net_id or "")
    if network is None:
        raise errors.BadRequest(f"Network {want.net_id} could not be found.")
    try:
        port = net.create_port(project_id, network["id"], _binding(server_id, host, az))
    except NetworkError as exc:
        raise errors.BadRequest(f"Unable to create a port on network {want.net_id}: "
                                f"{exc}") from None
    return stored(port, network.get("name", ""), owned=True,
                  cidrs=_cidrs(net, project_id, port))


def allocate(net: Network, project_id: str, server_id: str, host: str, admin: bool, az: str,
             wanted: tuple[NetworkRequest, ...]) -> list[dict]:
    done: list[dict] = []
    try:
        for want in wanted:
            done.append(allocate_one(net, project_id, server_id, host, az, want, admin))
    except BaseException:
        release(net, project_id, done)
        raise
    return done


def release(net: Network, project_id: str, ports: list[dict]) -> None:
    for port in ports:
        try:
            if port.get("owned"):
                net.delete_port(project_id, port["port_id"])
            elif port.get("service"):
                net.update_port(project_id, port["port_id"], {"binding:host_id": ""})
            else:
                net.update_port(project_id, port["port_id"],
                                {"device_id": "", "device_owner": "", "binding:host_id": ""})
        except (NetworkError, errors.ComputeFault) as exc:
            LOG.warning("could not release port %s: %s", port["port_id"], exc)
