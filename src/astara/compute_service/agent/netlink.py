"""A namespace's links and PERMANENT neighbours, read in this process.

The periodic reconcile looks at every namespace of the host: one ``ip`` process per
namespace cost a few milliseconds of CPU each, seconds per pass at a thousand
appliances, taken from the creates running beside it. Entering the namespace in
this thread and reading two rtnetlink dumps takes a fraction of a millisecond. The
dicts carry the fields of ``ip -j`` output the backend reads (links: ``ifname``,
``address``, ``flags``, ``link_index``; neighbours: ``dst``, ``lladdr``, ``dev``,
``state``), so the pure functions of ``agent.neighbours`` take either.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
import struct
from dataclasses import dataclass

from astara.common import netlink_dump as dump
from astara.common.netns import entered
from astara.common.rtnetlink import (
    IFA_ADDRESS,
    IFA_F_NODAD,
    IFA_LOCAL,
    IFADDRMSG,
    IFF_LOWER_UP,
    IFF_UP,
    IFINFOMSG,
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_LINK,
    NDA_DST,
    NDA_LLADDR,
    NDMSG,
    NETLINK_ROUTE,
    NUD_PERMANENT,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
)

_LINK_ATTRS = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_LINK))
_U32 = struct.Struct("=I")
_LENGTHS = {socket.AF_INET: 4, socket.AF_INET6: 16}


def parse_link(payload: bytes) -> dict:
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    attrs = dump.attributes(payload, IFINFOMSG.size, _LINK_ATTRS)
    link: dict = {"ifindex": index, "ifname": dump.string(attrs.get(IFLA_IFNAME, b"")),
                  "address": attrs.get(IFLA_ADDRESS, b"").hex(":"),
                  "flags": [name for bit, name in ((IFF_UP, "UP"), (IFF_LOWER_UP, "LOWER_UP"))
                            if flags & bit]}
    if (peer := attrs.get(IFLA_LINK)) is not None and len(peer) == 4:
        link["link_index"] = _U32.unpack(peer)[0]
    return link


def parse_permanent(payload: bytes, names: dict[int, str]) -> dict | None:
    family, ifindex, state, _flags, _type = NDMSG.unpack_from(payload)
    if not state & NUD_PERMANENT or family not in _LENGTHS:
        return None
    attrs = dump.attributes(payload, NDMSG.size)
    ip, mac = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
    if not ip or not mac or len(ip) != _LENGTHS[family]:
        return None
    return {"dst": socket.inet_ntop(family, ip), "dev": names.get(ifindex, ""),
            "lladdr": mac.hex(":"), "state": ["PERMANENT"]}


def read(netns: str) -> tuple[list[dict], list[dict]]:
    """``netns``'s links and PERMANENT neighbours; ([], []) if it does not exist (any
    more), as ``ip -n`` printed nothing then."""
    try:
        with entered(netns), dump.Socket(NETLINK_ROUTE) as sock:
            links = [parse_link(m.payload) for m in sock.dump(RTM_GETLINK, bytes(IFINFOMSG.size))
                     if m.type == RTM_NEWLINK]
            names = {link["ifindex"]: link["ifname"] for link in links}
            pins = [n for m in sock.dump(RTM_GETNEIGH, bytes(NDMSG.size))
                    if m.type == RTM_NEWNEIGH and (n := parse_permanent(m.payload, names))]
    except OSError:
        return [], []
    return links, pins


# ip's names of the address scopes it prints (RT_SCOPE_*), the rest as numbers.
_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host"}
_FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}


def parse_address(payload: bytes) -> tuple[int, dict] | None:
    """(ifindex, the ``addr_info`` entry ``ip -j addr show`` prints) of one address."""
    family, prefixlen, _flags, scope, index = IFADDRMSG.unpack_from(payload)
    if family not in _FAMILIES:
        return None
    attrs = dump.attributes(payload, IFADDRMSG.size, frozenset((IFA_LOCAL, IFA_ADDRESS)))
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if not raw or len(raw) != _LENGTHS[family]:
        return None
    return index, {"family": _FAMILIES[family], "local": socket.inet_ntop(family, raw),
                   "prefixlen": prefixlen, "scope": _SCOPES.get(scope, str(scope))}


def read_addresses(netns: str) -> list[dict]:
    """``netns``'s links with their addresses, as ``ip -j addr show`` prints the fields
    read here (``ifname``, ``address``, ``addr_info``); [] if it does not exist. An
    ``ip -n`` copies the host's mounts first: 10-17 ms at a thousand namespaces."""
    try:
        with entered(netns), dump.Socket(NETLINK_ROUTE) as sock:
            links = [parse_link(m.payload) for m in sock.dump(RTM_GETLINK, bytes(IFINFOMSG.size))
                     if m.type == RTM_NEWLINK]
            by_index = {link["ifindex"]: {**link, "addr_info": []} for link in links}
            for m in sock.dump(RTM_GETADDR, bytes(IFADDRMSG.size)):
                if m.type == RTM_NEWADDR and (found := parse_address(m.payload)) is not None \
                        and found[0] in by_index:
                    by_index[found[0]]["addr_info"].append(found[1])
    except OSError:
        return []
    return list(by_index.values())


# -- writes ------------------------------------------------------------------------
# ``ip`` resolves ``dev NAME`` for a neighbour by dumping every link of the namespace
# first: on a host with a thousand appliances (each veth's dump entry also looks its
# peer's namespace up) one ``ip neigh replace`` took 50-65 ms, most of an appliance's
# plug. These few changes go over rtnetlink from this process instead, with the
# device's index asked for by name.
RTM_DELNEIGH = 29
_NLA = struct.Struct("=HH")
_NEIGH = re.compile(r"neigh (replace|del) (\S+)(?: lladdr ([0-9a-fA-F:]{17}))? dev (\S+)"
                    r"(?: nud permanent)?")
_LINK_UP = re.compile(r"link set (?:dev )?(\S+) up")
_ADDR = re.compile(r"addr replace (\S+) dev (\S+)( nodad)?")
# ``bridge fdb``'s syntax (no ``ip`` line makes one): a bridge port's static entry.
_FDB = re.compile(r"fdb replace ([0-9a-fA-F:]{17}) dev (\S+) master static")
NUD_NOARP, NTF_MASTER = 0x40, 0x04  # a static entry; in the master's (bridge's) table


@dataclass(frozen=True)
class Change:
    """One ``ip`` line this module runs itself (see ``change``)."""

    line: str
    kind: str  # "neigh replace", "neigh del", "link up", "addr replace", "fdb static"
    dev: str
    ip: str = ""  # an address, or address/prefixlen for "addr replace"
    mac: str = ""
    nodad: bool = False


def change(line: str) -> Change | None:
    """The change an ``ip -batch`` line makes, if it is one of the few done here:
    ``neigh replace IP lladdr MAC dev DEV nud permanent``, ``neigh del IP dev DEV``,
    ``link set DEV up``, ``addr replace IP/LEN dev DEV [nodad]``, and one line of
    ``bridge``'s, ``fdb replace MAC dev PORT master static``; None for anything else
    (``ip`` runs it)."""
    if m := _NEIGH.fullmatch(line.strip()):
        op, ip, mac, dev = m.groups()
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return None
        if (op == "replace") != (mac is not None) or (op == "replace" and
                                                      "nud permanent" not in line):
            return None
        return Change(line, f"neigh {op}", dev, ip, (mac or "").lower())
    if m := _FDB.fullmatch(line.strip()):
        return Change(line, "fdb static", m.group(2), mac=m.group(1).lower())
    if m := _LINK_UP.fullmatch(line.strip()):
        return Change(line, "link up", m.group(1))
    if m := _ADDR.fullmatch(line.strip()):
        cidr, dev, nodad = m.groups()
        try:
            ipaddress.ip_interface(cidr)
        except ValueError:
            return None
        if "/" not in cidr:  # ip's own default length is not ours to guess
            return None
        return Change(line, "addr replace", dev, cidr, nodad=bool(nodad))
    return None


def _attr(kind: int, value: bytes) -> bytes:
    return _NLA.pack(_NLA.size + len(value), kind) + value + bytes(-len(value) % 4)


def message(c: Change, index: int) -> tuple[int, int, bytes]:
    """(type, flags, body) of the request making ``c`` on link ``index``."""
    if c.kind == "link up":
        return RTM_NEWLINK, 0, IFINFOMSG.pack(0, 0, index, IFF_UP, IFF_UP)
    if c.kind == "addr replace":
        iface = ipaddress.ip_interface(c.ip)
        family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        packed = iface.ip.packed
        head = IFADDRMSG.pack(family, iface.network.prefixlen,
                              IFA_F_NODAD if c.nodad else 0, 0, index)
        return (RTM_NEWADDR, dump.NLM_F_CREATE | dump.NLM_F_REPLACE,
                head + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed))
    if c.kind == "fdb static":
        mac = bytes.fromhex(c.mac.replace(":", ""))
        return (RTM_NEWNEIGH, dump.NLM_F_CREATE | dump.NLM_F_REPLACE,
                NDMSG.pack(socket.AF_BRIDGE, index, NUD_NOARP, NTF_MASTER, 0)
                + _attr(NDA_LLADDR, mac))
    address = ipaddress.ip_address(c.ip)
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    dst = _attr(NDA_DST, address.packed)
    if c.kind == "neigh del":
        return RTM_DELNEIGH, 0, NDMSG.pack(family, index, 0, 0, 0) + dst
    mac = bytes.fromhex(c.mac.replace(":", ""))
    return (RTM_NEWNEIGH, dump.NLM_F_CREATE | dump.NLM_F_REPLACE,
            NDMSG.pack(family, index, NUD_PERMANENT, 0, 0) + dst + _attr(NDA_LLADDR, mac))


def write(netns: str | None, changes: list[Change]) -> None:
    """Make ``changes`` in order in ``netns`` (None: this host); OSError naming the
    line the kernel refused (those before it are made)."""
    if not changes:
        return
    with entered(netns), dump.Socket(NETLINK_ROUTE) as sock:
        for c in changes:
            try:
                sock.request(*message(c, socket.if_nametoindex(c.dev)))
            except OSError as exc:
                raise OSError(exc.errno, f"{c.line}: {exc.strerror or exc}") from None


# -- nftables chains -------------------------------------------------------------------
# Whether a chain is there, asked of nfnetlink by name: ``nft`` would first dump every
# chain of the family (a thousand anti-spoofing chains on a host of appliances).
NETLINK_NETFILTER = 12
NFPROTO_NETDEV = 5
_NFT_GETCHAIN = (10 << 8) | 4  # NFNL_SUBSYS_NFTABLES, NFT_MSG_GETCHAIN
_NFTA_CHAIN_TABLE, _NFTA_CHAIN_NAME = 1, 3
_NFGENMSG = struct.Struct("=BBH")  # family, version, resource id


def chain_request(family: int, table: str, chain: str) -> bytes:
    """The body of a GETCHAIN request for one chain."""
    return (_NFGENMSG.pack(family, 0, 0) + _attr(_NFTA_CHAIN_TABLE, table.encode() + b"\0")
            + _attr(_NFTA_CHAIN_NAME, chain.encode() + b"\0"))


def chains_present(family: int, table: str, names: list[str]) -> set[str]:
    """Which of the chains ``names`` of ``table`` exist in this thread's namespace;
    OSError when the kernel could not be asked (the caller then assumes all do)."""
    found: set[str] = set()
    if not names:
        return found
    with dump.Socket(NETLINK_NETFILTER) as sock:
        for name in names:
            try:
                sock.request(_NFT_GETCHAIN, 0, chain_request(family, table, name))
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                continue
            found.add(name)
    return found
