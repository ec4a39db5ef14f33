"""L2 between hosts, the decisions: VNIs, peers and flood entries (pure, no I/O).

A host with a tunnel address joins each network's bridge to the same network's
bridge on other hosts with a ``vxlan`` device (one VNI per network, unicast peers:
linuxbridge + l2population). ``overlay`` (the I/O) reads the hosts, the instances and
the host's devices, asks these functions what should change and applies the lines.
The management network is tunnelled too only when ``management_address_host`` names
the hosts holding a management host address (``holders``): every live holder is then a
peer of every host's management network (``peers_by_network``'s ``always``), whether
or not it has an appliance itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from astara.compute_service.agent import neighbours

VNI_MIN, VNI_MAX = 1, 2**24 - 1
DSTPORT = 4789  # IANA's VXLAN port
FLOOD = "00:00:00:00:00:00"  # the FDB entry a vxlan device floods unknown traffic by
# outer Ethernet 14 + IP 20 (40 for IPv6) + UDP 8 + VXLAN 8; inner frames carry no FCS
OVERHEAD = {4: 50, 6: 70}


class VniExhausted(Exception):
    """Every VNI is taken (16,777,215 networks by default)."""


def vni_start(net_id: str, lo: int = VNI_MIN, hi: int = VNI_MAX) -> int:
    """Where the search for ``net_id``'s VNI starts: a stable derivation of the id, so
    hosts allocating for different networks at once rarely try the same one."""
    digest = int.from_bytes(hashlib.sha256(net_id.encode()).digest()[:4], "big")
    return lo + digest % (hi - lo + 1)


def pick_vni(net_id: str, taken: Iterable[int], lo: int = VNI_MIN, hi: int = VNI_MAX) -> int:
    """The first VNI at or after ``vni_start(net_id)`` (wrapping within ``lo..hi``) that
    no other network holds: two networks never share one, whatever their ids hash to."""
    used = set(taken)
    span = hi - lo + 1
    start = vni_start(net_id, lo, hi) - lo
    for step in range(span):
        vni = lo + (start + step) % span
        if vni not in used:
            return vni
    raise VniExhausted(f"every VNI from {lo} to {hi} is allocated")


def device_name(bridge_prefix: str, vni: int) -> str:
    """The vxlan device of the network with VNI ``vni``: named by the VNI, unique like
    it (a network id's first characters, which name its bridge, may be shared)."""
    return f"vx{bridge_prefix}{vni:06x}"[:15]


def device_prefix(bridge_prefix: str) -> str:
    return "vx" + bridge_prefix


def named(links: Iterable[Mapping], prefix: str) -> list[str]:
    """Names of the links (``ip -j link show``) starting with ``prefix``, sorted."""
    return sorted(str(link["ifname"]) for link in links
                  if str(link.get("ifname", "")).startswith(prefix))


def tunnel_mtu(underlay_mtu: int, local: str) -> int:
    """The MTU of a tunnelled network's devices (vxlan device and instance veths): the
    underlay's less the encapsulation, so no instance frame needs fragmenting."""
    return underlay_mtu - OVERHEAD[ipaddress.ip_address(local).version]


def device_lines(name: str, vni: int, local: str, mtu: int, bridge: str) -> list[str]:
    """``ip -batch`` lines making the vxlan device of a bridge (no learning: its peers
    come from our records, never from traffic; ``fdb_diff`` gives its flood lines)."""
    return [f"link add {name} mtu {mtu} type vxlan id {vni} local {local} "
            f"dstport {DSTPORT} nolearning",
            f"link set {name} master {bridge} up"]


def existing_lines(link: Mapping | None, master: str | None, name: str, vni: int,
                   local: str, mtu: int, bridge: str) -> tuple[list[str], bool]:
    """The ``ip`` lines making an existing vxlan device ``name`` what ``bridge`` needs,
    and whether it is made anew (then its flood entries are too). ``link``: its ``ip -d
    -j link show`` entry (None: unreadable). A wrong VNI (a leftover of a network whose
    VNI is now another's) or local address (``tunnel_address`` changed) cannot be
    changed in place: the device is deleted and made again; a wrong or missing master
    (its bridge deleted by hand) is set."""
    data = (link or {}).get("linkinfo", {}).get("info_data", {})
    seen = str(data.get("local") or data.get("local6") or "")  # ip prints an IPv6 as local6
    same_local = family(seen) is not None and \
        ipaddress.ip_address(seen) == ipaddress.ip_address(local)
    if data.get("id") != vni or not same_local:
        return [f"link del {name}"] + device_lines(name, vni, local, mtu, bridge), True
    if master != bridge:
        return [f"link set {name} master {bridge} up"], False
    return [], False


@dataclass(frozen=True)
class HostRow:
    name: str
    tunnel_address: str | None
    alive: bool


def family(address: str) -> int | None:
    """4 or 6, the IP version of ``address``; None if it is no address."""
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None


def other_family(me: str, hosts: Iterable[HostRow], version: int) -> dict[str, str]:
    """Host -> tunnel address of the other live hosts whose address is not of IP
    ``version``: no flood entry can reach them (the kernel refuses it)."""
    return {h.name: h.tunnel_address for h in hosts
            if h.alive and h.tunnel_address and h.name != me
            and family(h.tunnel_address) != version}


def peers_by_network(me: str, hosts: Iterable[HostRow], ports: Iterable[tuple[str, str]],
                     version: int | None = None,
                     always: Mapping[str, Iterable[str]] | None = None
                     ) -> dict[str, frozenset[str]]:
    """Network id -> tunnel addresses of the other live tunnelled hosts that have a
    port on it (``ports``: (host, network id) of every live instance's port), the
    l2population way: a host floods a network's traffic only to hosts that use it.
    With ``version`` (the local address's), hosts of the other IP family are left out.
    ``always``: network id -> hosts that are its peers without a port on it (the live
    holders of a management address, for the management network)."""
    address = {h.name: h.tunnel_address for h in hosts
               if h.alive and h.tunnel_address and h.name != me
               and (version is None or family(h.tunnel_address) == version)}
    out: dict[str, set[str]] = {}
    extra = [(host, net_id) for net_id, hosts_ in (always or {}).items() for host in hosts_]
    for host, net_id in [*ports, *extra]:
        if host in address:
            out.setdefault(net_id, set()).add(str(address[host]))
    return {net: frozenset(peers) for net, peers in out.items()}


def management_networks(instances: Iterable[tuple[str, list]],
                        appliance_image: str) -> frozenset[str]:
    """Network ids of the management network, from (image id, ports) of live instances:
    an appliance's ports the compute API marked as management ports
    (``neighbours.is_management``: from the network's owner or id, never its name). A
    tenant's instance never counts, nor a network of a tenant's however called."""
    out = set()
    for image_id, ports in instances:
        if image_id != appliance_image:
            continue
        for port in ports or ():
            if isinstance(port, dict) and port.get("net_id") \
                    and neighbours.is_management(port):
                out.add(str(port["net_id"]))
    return frozenset(out)


def flood_entries(fdb: Iterable[Mapping], devices: Iterable[str]) -> dict[str, set[str]]:
    """Device -> flood destinations present, from ``bridge -j fdb show`` entries."""
    wanted = set(devices)
    out: dict[str, set[str]] = {d: set() for d in wanted}
    for entry in fdb:
        dev, dst = entry.get("ifname") or entry.get("dev"), entry.get("dst")
        if dev in wanted and dst and str(entry.get("mac", "")).lower() == FLOOD:
            out[str(dev)].add(str(dst))
    return out


def fdb_diff(desired: Mapping[str, Iterable[str]],
             present: Mapping[str, Iterable[str]]) -> list[str]:
    """``bridge -batch`` lines turning ``present`` flood entries into ``desired`` (per
    device; a device absent from ``desired`` is left alone: not ours to judge)."""
    lines: list[str] = []
    for dev in sorted(desired):
        want, have = set(desired[dev]), set(present.get(dev, ()))
        lines += [f"fdb append {FLOOD} dev {dev} dst {d}" for d in sorted(want - have)]
        lines += [f"fdb del {FLOOD} dev {dev} dst {d}" for d in sorted(have - want)]
    return lines
