"""Pinned (PERMANENT) neighbour entries on the management network: the lines, pure.

Why: the kernel's ARP and ND tables are global to the host -- every namespace's
entries count against one set of limits (``net.ipv{4,6}.neigh.default.gc_thresh3``,
1024 by default) -- and reaching an appliance over the management network costs
a dynamic entry on each side: its management address in the root namespace (on the
management bridge) and the host's management address in the appliance's. At ~300
appliances the IPv6 table overflowed (``ndisc_cache: neighbor table overflow!``),
status checks failed and the orchestrator rebuilt healthy appliances. PERMANENT
entries are not counted against gc_thresh (Linux >= 4.20) and need no
resolution, so the netns backend pins both sides when it plugs an appliance's
management port (what Neutron's L3/DVR agents do for the ports they know):

- root namespace: each management address -> the port's MAC, on the bridge;
- appliance namespace: the host's management address -> the bridge's MAC.

The bridge's MAC must never change: a Linux bridge whose address was not set takes
its lowest port's MAC as ports come and go, and any MAC change flushes every entry
on the device, PERMANENT ones included; so the management bridge gets a fixed
(random, locally administered) address once. An interface set down also loses its
pins: ``start`` pins again. Everything here is pure: ``netns`` runs the lines
(``ip -batch``) and reads the entries (``ip -j neigh show``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping

# addr_assign_type of a device whose address was set by a user (``ip link set address``)
NET_ADDR_SET = 3


def bridge_mac(random: bytes) -> str:
    """A locally administered unicast MAC from 6 random bytes."""
    octets = bytes([(random[0] & 0xFE) | 0x02]) + random[1:6]
    return ":".join(f"{b:02x}" for b in octets)


def holder_mac(mgmt_host_address: str) -> str:
    """The MAC of the management bridge holding ``mgmt_host_address`` when the
    management network spans hosts: derived from the address, so every host pins its
    appliances' way to the holder without asking it (a random one could not be known).
    Only the holder's bridge has it; the others keep a random one (two bridges with one
    MAC on a network would each take the frames to it for their own)."""
    digest = hashlib.sha256(b"astara-management-holder\0"
                            + host_ip(mgmt_host_address).encode()).digest()
    return bridge_mac(digest[:6])


def host_ip(mgmt_host_address: str) -> str:
    """The host's management address without its prefix length ("" when unset)."""
    return str(ipaddress.ip_interface(mgmt_host_address).ip) if mgmt_host_address else ""


def addresses(port: dict) -> list[str]:
    """The fixed IPs of a port, canonical (what ``ip -j neigh`` prints)."""
    out = []
    for ip in port.get("fixed_ips", ()):
        try:
            out.append(str(ipaddress.ip_address(ip.get("ip_address", ""))))
        except ValueError:
            continue
    return out


def is_management(port: dict) -> bool:
    """Is ``port`` the management port our own records say it is? The compute API marks
    it when it stores the port (``ports.is_management``: the network's owner or id), never
    from its network's name: a tenant writes that, and may call a network of its own
    like the management one."""
    return port.get("management") is True


def wanted(port: dict, profile: str) -> frozenset[tuple[str, str]]:
    """(MAC, IP) pairs pinned for ``port``: an appliance's management port's addresses
    (the backend pins only when the host has a management address)."""
    if profile != "appliance" or not is_management(port):
        return frozenset()
    mac = str(port.get("mac_address", "")).lower()
    return frozenset((mac, ip) for ip in addresses(port))


def pin_lines(pairs: Iterable[tuple[str, str]], dev: str) -> list[str]:
    """``ip`` lines pinning each (MAC, IP) on ``dev`` (idempotent: replace)."""
    return [f"neigh replace {ip} lladdr {mac} dev {dev} nud permanent"
            for mac, ip in sorted(pairs)]


def fdb_line(mac: str, tap: str) -> str:
    """The line (``bridge fdb``'s syntax, made over rtnetlink: ``netlink.change``)
    putting ``mac`` in its bridge's forwarding table as static on ``tap``: frames to
    an appliance's management MAC do not flood the other ports before the bridge has
    heard from it (its chain drops the reports a bridge first learnt it from; its DAD
    solicitation comes up to a second later). Never aged; goes with the tap."""
    return f"fdb replace {mac.lower()} dev {tap} master static"


def host_pin_lines(host_address: str, mac: str, ifname: str) -> list[str]:
    """Inside the appliance: the host's management address -> the bridge's MAC."""
    ip = host_ip(host_address)
    return pin_lines([(mac, ip)], ifname) if ip and mac else []


def permanent(entries: list[dict]) -> list[dict]:
    """The PERMANENT entries of an ``ip -j neigh show`` dump."""
    return [e for e in entries if "PERMANENT" in e.get("state", ()) and e.get("lladdr")]


def unpin_lines(entries: list[dict], pairs: Iterable[tuple[str, str]], dev: str) -> list[str]:
    """``ip`` lines deleting the pins of ``pairs`` found on ``dev`` -- only where the
    entry still names the port's MAC: an address given to another port since keeps
    that port's pin."""
    want = {(mac.lower(), ip) for mac, ip in pairs}
    return [f"neigh del {e['dst']} dev {dev}" for e in permanent(entries)
            if e.get("dev", dev) == dev and (e["lladdr"].lower(), e["dst"]) in want]


def by_mac(root: list[dict]) -> dict[str, list[dict]]:
    """The PERMANENT entries of ``root`` by their MAC (lower case), for ``complete``:
    read once per pass, then each namespace looks up its own MACs."""
    out: dict[str, list[dict]] = {}
    for e in permanent(root):
        out.setdefault(e["lladdr"].lower(), []).append(e)
    return out


def complete(root: Mapping[str, list[dict]], bridge_macs: dict[str, str],
             links: dict[str, dict], inside: list[dict],
             host_address: str) -> tuple[tuple[str, str], ...]:
    """The (MAC, IP) pairs of one appliance namespace pinned on both sides.

    ``root``: ``by_mac`` of the root namespace's PERMANENT entries (with ``dev``) on our
    bridges, read once per pass (each namespace looks up its own MACs instead of walking
    the host's thousand pins); ``bridge_macs``: bridge -> its MAC; ``links``:
    the namespace's interfaces by name; ``inside``: its PERMANENT entries. A pair counts
    when the root pins IP -> MAC on a bridge and the interface with that MAC pins the
    host's address -> that bridge's MAC.
    """
    ip = host_ip(host_address)
    if not ip:
        return ()
    host_pins = {(e.get("dev"), e["lladdr"].lower()) for e in permanent(inside)
                 if e.get("dst") == ip}
    out = []
    for name, link in links.items():
        mac = str(link.get("address", "")).lower()
        for e in root.get(mac, ()):
            if (name, bridge_macs.get(e.get("dev", ""), "").lower()) in host_pins:
                out.append((mac, e["dst"]))
    return tuple(sorted(set(out)))


def stale(root: list[dict], macs: set[str]) -> list[dict]:
    """PERMANENT entries naming a MAC no interface of our namespaces has."""
    return [e for e in permanent(root) if e["lladdr"].lower() not in macs]
