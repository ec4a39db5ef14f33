"""Anti-spoofing of instance ports: the nftables chain the netns backend hooks on a tap.

Pure: from a stored port (``mac_address``, ``fixed_ips``, ``allowed_address_pairs``,
``port_security_enabled``) it writes the ``nft -f`` text of one chain in the table
``netdev astara_antispoof``, hooked at the ingress of the host side of the port's
veth (frames the instance sends, before the bridge sees them). As Neutron's port
security does, a frame passes only if its source MAC is the port's (or an allowed
address pair's) and, for that MAC: ARP names that MAC and one of its IPv4 addresses
(or 0.0.0.0, a probe); IPv4 comes from one of its addresses (0.0.0.0 only as a DHCP
request); IPv6 from one of its addresses or the MAC's EUI-64 link-local (:: only for
DAD, router solicitations and MLD), and a neighbour advertisement only for one of them. DHCP server
replies and router advertisements are dropped whatever their source. Anything else
(other ethertypes included) is dropped. An appliance's management port also has its
MLD listener reports dropped: nothing on the management network snoops or queries
(its neighbours are pinned), and the bridge floods each report to every appliance
on it, about 7 ms of the host's CPU per report at 1,000 appliances, seven per
appliance booted. Ports with port security disabled (routers' ports) get no chain.
The backend applies the text atomically and deletes the chain on unplug.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from astara.compute_service.agent import neighbours

TABLE = "astara_antispoof"
FAMILY = "netdev"
# Before anything else hooked at this device's ingress (e.g. an operator's filters).
PRIORITY = -300
_DEVICE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,14}")
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def wanted(port: dict, profile: str) -> bool:
    """Is this port filtered? Its ``port_security_enabled``; records stored before the
    flag was kept say nothing: filter tenants' ports, never an appliance's."""
    flag = port.get("port_security_enabled")
    return bool(flag) if flag is not None else profile == "tenant"


def quiet(port: dict, profile: str) -> bool:
    """Are the port's MLD listener reports dropped? An appliance's management port
    (our records say so, never its network's name)."""
    return profile == "appliance" and neighbours.is_management(port)


def link_local(mac: str) -> ipaddress.IPv6Address:
    """The EUI-64 link-local address a host with ``mac`` forms."""
    octets = bytes(int(x, 16) for x in mac.split(":"))
    iid = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    return ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid)


def _network(value: object) -> _Net | None:
    """An address or CIDR as a network; anything else allows nothing (never raises)."""
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return None


def allowed(port: dict) -> dict[str, list[_Net]]:
    """MAC -> the networks (addresses are /32, /128) it may send from, in order."""
    mac = str(port.get("mac_address", "")).lower()
    out: dict[str, list[_Net]] = {mac: []}
    for ip in port.get("fixed_ips", ()):
        if (net := _network(ip.get("ip_address"))) is not None:
            out[mac].append(net)
    for pair in port.get("allowed_address_pairs") or ():
        if (net := _network(pair.get("ip_address"))) is not None:
            out.setdefault(str(pair.get("mac_address") or mac).lower(), []).append(net)
    for m, nets in out.items():
        nets.append(ipaddress.ip_network(link_local(m)))
    return out


def _collapse(nets: Iterable[_Net], version: int) -> list[_Net]:
    # Overlapping addresses merged: one rule each, none twice.
    return list(ipaddress.collapse_addresses(n for n in nets if n.version == version))


def _nd_target(net: _Net) -> str:
    """A neighbour advertisement's target as the 128-bit integer (range) nft compares."""
    first, last = int(net.network_address), int(net.broadcast_address)
    return f"0x{first:032x}" if first == last else f"0x{first:032x}-0x{last:032x}"


# A rule holds at most 128 expressions (the kernel's NFT_RULE_MAXEXPRS) and each
# target compared inline takes two: above this many, the targets go in a set.
ND_TARGETS_INLINE = 32


def _nd_rule(src: str, v6: list[_Net]) -> str:
    """Drop an advertisement whose target is none of ``v6``: what a neighbour learns
    must be one of our own addresses. Up to ``ND_TARGETS_INLINE`` targets, one
    comparison each (every one holds: none matched); above, an anonymous set, so a
    port with many addresses still loads (the one case whose load reads sets)."""
    head = f"{src} icmpv6 type nd-neighbor-advert @th,64,128 != "
    targets = [_nd_target(n) for n in v6]
    if len(targets) <= ND_TARGETS_INLINE:
        return head + " @th,64,128 != ".join(targets) + " drop"
    return head + "{ " + ", ".join(targets) + " } drop"


# MLD listener reports (v1, v2) and done messages: what a host sends on joining and
# leaving a multicast group.
_LISTENER = ("mld-listener-report", "mld-listener-done", "mld2-listener-report")
# The ICMPv6 a port may send from :: to a multicast group (DAD, router solicitation, MLD).
_FROM_UNSPECIFIED = ("nd-neighbor-solicit", "nd-router-solicit", *_LISTENER)


def rules(port: dict, quiet: bool = False) -> list[str]:
    """The rule bodies of the port's chain, in order (the policy drops the rest);
    ``quiet``: its MLD listener reports dropped too (``quiet()``).

    No anonymous set (``{ a, b }``): one rule per address instead (but for the
    advertisements of a MAC with over ``ND_TARGETS_INLINE`` IPv6 addresses). Every ``nft`` load
    that adds a rule first reads every set of the host (nftables 1.0.6): the sets of a
    thousand ports' chains made each plug's load 20 ms slower
    (bench/appliance_plug.py); their chains alone cost a few ms."""
    # The kernel strips a VLAN tag before this hook (the rules below would then see the
    # inner frame), but the bridge forwards it tagged: no VLAN from an instance.
    # Only a DHCP server sends to a DHCP client's port (Neutron matches sport 67 too).
    out = ["ether type 8021q drop", "ether type 8021ad drop", "udp dport 68 drop",
           "udp dport 546 drop", "icmpv6 type nd-router-advert drop"]
    out += [f"icmpv6 type {kind} drop" for kind in _LISTENER if quiet]
    unspecified = [k for k in _FROM_UNSPECIFIED if not (quiet and k in _LISTENER)]
    for mac, nets in allowed(port).items():
        v4 = [str(n) for n in _collapse(nets, 4)]
        v6 = _collapse(nets, 6)  # never empty: the link-local address is there
        src = f"ether saddr {mac}"
        out += [f"{src} arp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
                f"arp saddr ether {mac} arp saddr ip {ip} accept" for ip in ["0.0.0.0", *v4]]
        out += [f"{src} ip saddr {net} accept" for net in v4]
        out.append(f"{src} ip saddr 0.0.0.0 ip daddr 255.255.255.255 "
                   "udp sport 68 udp dport 67 accept")
        out.append(_nd_rule(src, v6))
        out += [f"{src} ip6 saddr {net} accept" for net in v6]
        out += [f"{src} ip6 saddr :: ip6 daddr ff02::/16 icmpv6 type {kind} accept"
                for kind in unspecified]
    return out


def _chain(device: str) -> str:
    # nft takes a chain name unquoted: a device name we made (tap + port id) or nothing.
    if not _DEVICE.fullmatch(device):
        raise ValueError(f"not a device name for an nft chain: {device!r}")
    return f"{FAMILY} {TABLE} {device}"


def _hook(device: str) -> str:
    return (f'{{ type filter hook ingress device "{device}" priority {PRIORITY}; '
            "policy drop; }")


def chain_script(device: str, port: dict, quiet: bool = False) -> list[str]:
    """Create the chain of ``device``, or empty and refill the one there (one
    transaction with the others). No chain is deleted: a transaction that deletes one
    took ~10 ms more, whatever the host's chains (bench/appliance_plug.py). An
    existing chain whose hook differs (another priority) makes the kernel refuse it:
    ``replace_script`` then."""
    name = _chain(device)
    return [f"add chain {name} {_hook(device)}", f"flush chain {name}",
            *(f"add rule {name} {body}" for body in rules(port, quiet))]


def replace_script(device: str, port: dict, quiet: bool = False) -> list[str]:
    """Create or replace the chain of ``device``, its hook included."""
    name = _chain(device)
    return [f"add chain {name}", f"delete chain {name}", f"add chain {name} {_hook(device)}",
            *(f"add rule {name} {body}" for body in rules(port, quiet))]


def delete_script(devices: Iterable[str]) -> list[str]:
    """Remove the chains of ``devices``, present or not (add first makes it idempotent)."""
    out = []
    for device in devices:
        name = _chain(device)
        out += [f"add chain {name}", f"delete chain {name}"]
    return out


def script(lines: list[str]) -> str:
    """One ``nft -f`` transaction: the table (created if missing) then ``lines``."""
    return "\n".join([f"table {FAMILY} {TABLE} {{}}", *lines]) + "\n"


# The chains without their rules: listing the whole table renders every rule of
# every tap (2 MB of JSON at 1,000 instances, and over 30 s on a loaded host).
LIST_CHAINS = ["nft", "-j", "list", "chains", FAMILY]


def chains(listing: dict) -> set[str]:
    """Our table's chain names in ``nft -j list chains netdev`` output."""
    return {item["chain"]["name"] for item in listing.get("nftables", ())
            if "chain" in item and item["chain"].get("table") == TABLE}
