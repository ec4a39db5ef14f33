"""What an instance reads from the metadata service, in OpenStack and EC2 formats (pure).

Input is ``InstanceData`` (taken from the instance row by ``routes``); output is
Nova's documents: ``meta_data.json``, ``network_data.json`` and the EC2
``meta-data`` tree, plus ``resolve``, which walks a request path to a document, a
listing or nothing (404). No I/O, no clock: the random seed is passed in.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

OPENSTACK_VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest")
EC2_VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
                "2008-02-01", "2008-09-01", "2009-04-04", "latest")


@dataclass(frozen=True)
class InstanceData:
    id: str
    name: str
    hostname: str
    project_id: str
    availability_zone: str = "nova"
    flavor_name: str = ""
    image_id: str = ""
    reservation_id: str = ""
    key_name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    ports: tuple[dict, ...] = ()


def user_data(inst: InstanceData) -> bytes | None:
    """The user data as the instance wrote it (the API carries it base64-encoded)."""
    if inst.user_data is None:
        return None
    try:
        return base64.b64decode(inst.user_data, validate=True)
    except (binascii.Error, ValueError):
        return inst.user_data.encode()


def ec2_id(instance_id: str) -> str:
    return "i-" + instance_id.replace("-", "")[:8]


def _ips(inst: InstanceData, version: int) -> list[str]:
    return [ip["ip_address"] for p in inst.ports for ip in p.get("fixed_ips", ())
            if ipaddress.ip_address(ip["ip_address"]).version == version]


def meta_data(inst: InstanceData, random_seed: bytes) -> dict[str, Any]:
    return {"uuid": inst.id, "name": inst.name, "hostname": inst.hostname,
            "launch_index": 0, "availability_zone": inst.availability_zone,
            "project_id": inst.project_id, "meta": dict(inst.metadata),
            "public_keys": {}, "keys": [], "devices": [], "dedicated_cpus": [],
            "random_seed": base64.b64encode(random_seed).decode()}


def network_data(inst: InstanceData) -> dict[str, Any]:
    links, networks = [], []
    for port in inst.ports:
        link = "tap" + port["port_id"][:11]
        links.append({"id": link, "vif_id": port["port_id"], "type": "bridge", "mtu": 1500,
                      "ethernet_mac_address": port.get("mac_address", "")})
        for ip in port.get("fixed_ips", ()):
            addr = ipaddress.ip_address(ip["ip_address"])
            plen = ip.get("prefixlen") or (64 if addr.version == 6 else 32)
            net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)
            networks.append({"id": f"network{len(networks)}", "link": link,
                             "type": f"ipv{addr.version}", "ip_address": str(addr),
                             "netmask": str(net.netmask), "routes": [],
                             "network_id": port["net_id"], "services": []})
    return {"links": links, "networks": networks, "services": []}


def ec2_meta_data(inst: InstanceData) -> dict[str, Any]:
    v4 = _ips(inst, 4)
    return {"ami-id": "ami-" + inst.image_id.replace("-", "")[:8], "ami-launch-index": "0",
            "ami-manifest-path": "FIXME", "block-device-mapping": {"ami": "sda1",
                                                                    "root": "/dev/sda1"},
            "hostname": inst.hostname, "instance-action": "none",
            "instance-id": ec2_id(inst.id), "instance-type": inst.flavor_name,
            "local-hostname": inst.hostname, "local-ipv4": v4[0] if v4 else "",
            "placement": {"availability-zone": inst.availability_zone},
            "public-hostname": inst.hostname, "public-ipv4": "",
            "reservation-id": inst.reservation_id, "security-groups": "default"}


def _listing(tree: dict[str, Any]) -> str:
    return "\n".join(f"{k}/" if isinstance(v, dict) else k for k, v in tree.items())


def resolve(inst: InstanceData, path: str, random_seed: bytes) -> tuple[bytes, str] | None:
    """(body, media type) for the request ``path``, or None for a 404."""
    parts = [p for p in path.split("/") if p]
    text = "text/plain"
    if not parts:
        return "\n".join(EC2_VERSIONS).encode(), text
    if parts[0] == "openstack":
        if len(parts) == 1:
            return "\n".join(OPENSTACK_VERSIONS).encode(), text
        if parts[1] not in OPENSTACK_VERSIONS or len(parts) > 3:
            return None
        files = {"meta_data.json": lambda: meta_data(inst, random_seed),
                 "network_data.json": lambda: network_data(inst),
                 "vendor_data.json": dict, "vendor_data2.json": dict}
        data = user_data(inst)
        if len(parts) == 2:
            names = list(files) + (["user_data"] if data is not None else [])
            return "\n".join(sorted(names)).encode(), text
        if parts[2] == "user_data":
            return (data, "application/octet-stream") if data is not None else None
        if parts[2] in files:
            return json.dumps(files[parts[2]]()).encode(), "application/json"
        return None
    if parts[0] not in EC2_VERSIONS:
        return None
    data = user_data(inst)
    if len(parts) == 1:
        return ("meta-data/" + ("\nuser-data" if data is not None else "")).encode(), text
    if parts[1] == "user-data" and len(parts) == 2:
        return (data, "application/octet-stream") if data is not None else None
    if parts[1] != "meta-data":
        return None
    node: Any = ec2_meta_data(inst)
    for part in parts[2:]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):
        return _listing(node).encode(), text
    return str(node).encode(), text
