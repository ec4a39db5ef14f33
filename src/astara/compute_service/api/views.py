"""Renders instances, flavors and images as Nova 34 does, per microversion.

Input is an ``Instance`` row, the caller's admin flag, the microversion and the
public base URL; output is the JSON body piece. Status comes from
``transitions.status``; ``hostId`` is Nova's sha224 of project and host.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from astara.compute_service import catalog, transitions
from astara.compute_service.models import Instance

Version = tuple[int, int]


def _ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _links(base: str, kind: str, id_: str, self_link: bool = True) -> list[dict]:
    out = [{"rel": "bookmark", "href": f"{base}/{kind}/{id_}"}]
    if self_link:
        out.insert(0, {"rel": "self", "href": f"{base}/v2.1/{kind}/{id_}"})
    return out


def addresses(ports: list[dict], with_ext: bool = True) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for port in ports:
        entries = out.setdefault(port.get("network_name") or port["net_id"], [])
        for ip in port.get("fixed_ips", []):
            entry = {"version": 6 if ":" in ip["ip_address"] else 4, "addr": ip["ip_address"]}
            if with_ext:
                entry["OS-EXT-IPS:type"] = "fixed"
                entry["OS-EXT-IPS-MAC:mac_addr"] = port.get("mac_address", "")
            entries.append(entry)
    return out


def server_ref(row: Instance, base: str) -> dict:
    return {"id": row.id, "name": row.name, "links": _links(base, "servers", row.id)}


PROGRESS_SHOWN = ("ACTIVE", "BUILD")  # Nova shows ``progress`` in these statuses only


def _image_ref(row: Instance, base: str, version: Version) -> dict:
    ref = {"id": row.image_id, "links": _links(base, "images", row.image_id, False)}
    if version >= (2, 98):  # the image's properties as the server was built from it
        found = catalog.IMAGES.get(row.image_id)
        ref["properties"] = {"astara_profile": found.profile} if found else {}
    return ref


def server(row: Instance, base: str, version: Version, admin: bool,
           listed: bool = False) -> dict:
    """One server as show/update answer it, or as a detailed list item (``listed``)."""
    flavor = catalog.FLAVORS.get(row.flavor_id)
    status = transitions.status(row.vm_state, row.task_state)
    host_id = hashlib.sha224((row.project_id + row.host).encode()).hexdigest() \
        if row.host else ""
    body = {
        "accessIPv4": "", "accessIPv6": "",
        "addresses": {} if row.deleted else addresses(row.ports),
        "created": _ts(row.created_at),
        "flavor": {"id": row.flavor_id, "links": _links(base, "flavors", row.flavor_id, False)},
        "hostId": host_id,
        "id": row.id,
        "image": _image_ref(row, base, version),
        "links": _links(base, "servers", row.id),
        "metadata": dict(row.metadata_ or {}),
        "name": row.name,
        "status": status,
        "tenant_id": row.project_id,
        "user_id": row.user_id,
        "updated": _ts(row.updated_at),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": row.availability_zone,
        "config_drive": "",
        "key_name": row.key_name,
        "OS-SRV-USG:launched_at": row.launched_at.strftime("%Y-%m-%dT%H:%M:%S.%f")
        if row.launched_at else None,
        "OS-SRV-USG:terminated_at": _ts(row.terminated_at),
    }
    if status in PROGRESS_SHOWN:
        body["progress"] = 0
    if version >= (2, 47) and flavor is not None:
        body["flavor"] = {"vcpus": flavor.vcpus, "ram": flavor.ram, "disk": flavor.disk,
                          "ephemeral": 0, "swap": 0, "original_name": flavor.name,
                          "extra_specs": {}}
    if row.ports:
        body["security_groups"] = [{"name": "default"}]
    if row.fault and row.vm_state in ("error", "deleted"):
        fault = {"code": row.fault.get("code", 500), "created": row.fault.get("created", ""),
                 "message": row.fault.get("message", "")}
        if admin:
            fault["details"] = row.fault.get("details", "")
        body["fault"] = fault
    if admin:
        body.update({"OS-EXT-SRV-ATTR:host": row.host,
                     "OS-EXT-SRV-ATTR:instance_name": f"instance-{row.id[:8]}",
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": row.host})
        if version >= (2, 3):
            body.update({"OS-EXT-SRV-ATTR:hostname": row.hostname,
                         "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:launch_index": 0,
                         "OS-EXT-SRV-ATTR:ramdisk_id": "",
                         "OS-EXT-SRV-ATTR:reservation_id": row.reservation_id,
                         "OS-EXT-SRV-ATTR:root_device_name": "/dev/sda",
                         "OS-EXT-SRV-ATTR:user_data": row.user_data})
    body.update({"OS-EXT-STS:task_state": row.task_state,
                 "OS-EXT-STS:vm_state": row.vm_state,
                 "OS-EXT-STS:power_state": row.power_state,
                 "os-extended-volumes:volumes_attached": []})
    gates = [((2, 9), "locked", False), ((2, 19), "description", row.description),
             ((2, 26), "tags", []), ((2, 63), "trusted_image_certificates", None),
             ((2, 73), "locked_reason", None), ((2, 96), "pinned_availability_zone", None),
             ((2, 100), "scheduler_hints", {})]
    if not listed:  # server groups are shown by show, update and rebuild only
        gates.append(((2, 71), "server_groups", []))
    if not admin:  # members see the hostname from 2.90 (admins from 2.3, above)
        gates.append(((2, 90), "OS-EXT-SRV-ATTR:hostname", row.hostname))
    for since, key, value in gates:
        if version >= since:
            body[key] = value
    if admin and version >= (2, 16):
        body["host_status"] = "UP" if row.host and not row.deleted else ""
    return body


def flavor(f: catalog.Flavor, base: str, detail: bool, version: Version) -> dict:
    body = {"id": f.id, "name": f.name, "links": _links(base, "flavors", f.id)}
    if detail:
        body.update({"ram": f.ram, "disk": f.disk, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0,
                     "OS-FLV-DISABLED:disabled": False, "vcpus": f.vcpus,
                     "os-flavor-access:is_public": True, "rxtx_factor": 1.0})
        if version >= (2, 75):  # swap is a number; disabled and rxtx_factor are gone
            body["swap"] = 0
            del body["OS-FLV-DISABLED:disabled"], body["rxtx_factor"]
        if version >= (2, 55):
            body["description"] = None
        if version >= (2, 61):
            body["extra_specs"] = {}
    return body


def image(i: catalog.Image, base: str, detail: bool) -> dict:
    body = {"id": i.id, "name": i.name, "links": _links(base, "images", i.id)}
    if detail:
        body.update({"minRam": i.min_ram, "minDisk": i.min_disk,
                     "metadata": {"astara_profile": i.profile},
                     "created": catalog.CREATED, "updated": catalog.CREATED,
                     "status": "ACTIVE", "progress": 100, "OS-EXT-IMG-SIZE:size": 0})
    return body


def interface(port: dict, version: Version = (2, 1)) -> dict:
    body = {"net_id": port["net_id"], "port_id": port["port_id"],
            "mac_addr": port.get("mac_address", ""), "port_state": port.get("status", "ACTIVE"),
            "fixed_ips": [{"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}
                          for ip in port.get("fixed_ips", [])]}
    if version >= (2, 70):
        body["tag"] = port.get("tag")
    return body
