"""Read the nftables tables and named counters of the current namespace, over nfnetlink.

Used by `apply.nft` (both its libnftables and its `nft` binary flavours) for the
two questions asked per appliance without changing anything: which tables exist
(a restarted agent's check of its record) and what the named counters hold (the
status document). One dump each on a short-lived socket (`common.netlink_dump`): no
ruleset listed as text, no `nft` process, no libnftables context (which must
stay below descriptor 1024). `parse_*` are pure.
"""

from __future__ import annotations

import struct

from astara.common import netlink_dump as dump

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_NEWTABLE, NFT_MSG_GETTABLE, NFT_MSG_NEWOBJ, NFT_MSG_GETOBJ = 0, 1, 18, 19
NFTA_TABLE_NAME = 1
NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA = 1, 2, 3, 4
NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS = 1, 2
NFT_OBJECT_COUNTER = 1
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
NFPROTO = {name: number for number, name in FAMILIES.items()}
NFGENMSG = struct.Struct("=BBH")  # family, version, resource id
_BE32, _BE64 = struct.Struct(">I"), struct.Struct(">Q")


def _kind(message: int) -> int:
    return (NFNL_SUBSYS_NFTABLES << 8) | message


def parse_table(payload: bytes) -> tuple[str, str] | None:
    """(family, name) of a table."""
    family, _version, _res = NFGENMSG.unpack_from(payload)
    name = dump.attributes(payload, NFGENMSG.size).get(NFTA_TABLE_NAME)
    if name is None or family not in FAMILIES:
        return None
    return FAMILIES[family], dump.string(name)


def parse_counter(payload: bytes, table: str) -> tuple[str, tuple[int, int]] | None:
    """(name, (packets, bytes)) of a named counter of `table`."""
    attrs = dump.attributes(payload, NFGENMSG.size)
    kind, data = attrs.get(NFTA_OBJ_TYPE), attrs.get(NFTA_OBJ_DATA)
    if (kind is None or _BE32.unpack(kind)[0] != NFT_OBJECT_COUNTER or data is None
            or dump.string(attrs.get(NFTA_OBJ_TABLE, b"")) != table):
        return None
    values = dump.attributes(data, 0)
    packets, octets = values.get(NFTA_COUNTER_PACKETS), values.get(NFTA_COUNTER_BYTES)
    return dump.string(attrs.get(NFTA_OBJ_NAME, b"")), (
        _BE64.unpack(packets)[0] if packets else 0, _BE64.unpack(octets)[0] if octets else 0)


def tables() -> set[tuple[str, str]]:
    """(family, name) of every table of the calling thread's namespace."""
    with dump.Socket(NETLINK_NETFILTER) as sock:
        found = sock.dump(_kind(NFT_MSG_GETTABLE), NFGENMSG.pack(0, 0, 0))
    return {t for m in found if m.type == _kind(NFT_MSG_NEWTABLE)
            if (t := parse_table(m.payload)) is not None}


def counters(family: str = "inet", table: str = "astara") -> dict[str, tuple[int, int]]:
    """name → (packets, bytes) of the named counters of one table (none: {})."""
    with dump.Socket(NETLINK_NETFILTER) as sock:
        found = sock.dump(_kind(NFT_MSG_GETOBJ), NFGENMSG.pack(NFPROTO[family], 0, 0))
    return dict(c for m in found if m.type == _kind(NFT_MSG_NEWOBJ)
                if (c := parse_counter(m.payload, table)) is not None)
