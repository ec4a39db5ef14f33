"""Hand-made Ethernet frames, sent and captured with raw AF_PACKET sockets (root).

The builders are pure (bytes out); run as a script inside a namespace it sends
frames (``send IFACE HEX...``) or captures what an interface receives until a frame
holding a marker arrives (``capture IFACE MARKER_HEX SECONDS``: prints ``ready``
once bound, then a JSON list of the frames' hex). The anti-spoofing tests use it to
play an attacker inside an instance and a victim beside it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import sys
import time

BROADCAST = "ff:ff:ff:ff:ff:ff"
ETH_P_ALL, ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0003, 0x0800, 0x0806, 0x86DD
PACKET_OUTGOING = 4


def _mac(value: str) -> bytes:
    return bytes.fromhex(value.replace(":", ""))


def _ip(value: str) -> bytes:
    return ipaddress.ip_address(value).packed


def ether(dst: str, src: str, ethertype: int, payload: bytes) -> bytes:
    return _mac(dst) + _mac(src) + struct.pack("!H", ethertype) + payload


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    """An ARP packet (op 1 request, 2 reply) for Ethernet/IPv4."""
    return struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + _mac(sha) + _ip(spa) + \
        _mac(tha) + _ip(tpa)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4 packet carrying UDP (no UDP checksum, allowed over IPv4)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                         _ip(src), _ip(dst))
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + udp


def _ipv6(src: str, dst: str, next_header: int, payload: bytes, hops: int = 255) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, hops,
                       _ip(src), _ip(dst)) + payload


def _l4_checksummed(src: str, dst: str, proto: int, data: bytes, offset: int) -> bytes:
    pseudo = _ip(src) + _ip(dst) + struct.pack("!IxxxB", len(data), proto)
    return data[:offset] + struct.pack("!H", _checksum(pseudo + data)) + data[offset + 2:]


def icmp6(src: str, dst: str, icmp_type: int, body: bytes) -> bytes:
    data = struct.pack("!BBH", icmp_type, 0, 0) + body
    return _ipv6(src, dst, 58, _l4_checksummed(src, dst, 58, data, 2))


def listener(src: str, group: str, icmp_type: int = 143, extra: bytes = b"") -> bytes:
    """An MLD message about ``group`` as a host sends it: hop limit 1, behind a
    hop-by-hop router alert; 143 a v2 report (to ff02::16, one record: joined), 131 a v1
    report (to the group), 132 a done (to ff02::2)."""
    if icmp_type == 143:
        dst, body = "ff02::16", struct.pack("!HHBBH", 0, 1, 4, 0, 0) + _ip(group)
    else:
        dst = group if icmp_type == 131 else "ff02::2"
        body = bytes(4) + _ip(group)
    data = struct.pack("!BBH", icmp_type, 0, 0) + body + extra
    router_alert = bytes([58, 0, 5, 2, 0, 0, 1, 0])  # next: ICMPv6; alert: MLD; PadN
    return _ipv6(src, dst, 0, router_alert + _l4_checksummed(src, dst, 58, data, 2), 1)


def udp6(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    data = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return _ipv6(src, dst, 17, _l4_checksummed(src, dst, 17, data, 6))


def solicited_node(target: str) -> str:
    return str(ipaddress.IPv6Address("ff02::1:ff00:0")
               + (int(ipaddress.IPv6Address(target)) & 0xFFFFFF))


# ``extra`` bytes go inside the ICMPv6 message (what follows the IPv6 payload length is
# cut off on the way), e.g. a token a capture looks for.
def neighbor_solicit(src: str, target: str, mac: str | None, extra: bytes = b"") -> bytes:
    """A neighbour solicitation for ``target`` (to its solicited-node group)."""
    group = solicited_node(target)
    option = b"\x01\x01" + _mac(mac) if mac else b""  # source link-layer address
    return icmp6(src, group, 135, b"\0\0\0\0" + _ip(target) + option + extra)


def neighbor_advert(src: str, target: str, mac: str, extra: bytes = b"") -> bytes:
    """An unsolicited override advertisement: ``target`` is at ``mac``."""
    return icmp6(src, "ff02::1", 136,
                 b"\x20\0\0\0" + _ip(target) + b"\x02\x01" + _mac(mac) + extra)


def multicast_mac(address: str) -> str:
    tail = ipaddress.IPv6Address(address).packed[-4:]
    return "33:33:" + ":".join(f"{b:02x}" for b in tail)


def send(ifname: str, frames: list[bytes]) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((ifname, 0))
        for frame in frames:
            s.send(frame)


def capture(ifname: str, marker: bytes, seconds: float) -> list[bytes]:
    """Frames ``ifname`` receives (not those it sends) until one holds ``marker``."""
    got: list[bytes] = []
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as s:
        s.bind((ifname, 0))
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                frame, addr = s.recvfrom(65535)
            except TimeoutError:
                break
            if addr[2] == PACKET_OUTGOING:
                continue
            got.append(frame)
            if marker in frame:
                break
    return got


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], [bytes.fromhex(h) for h in sys.argv[3:]])
    else:
        frames = capture(sys.argv[2], bytes.fromhex(sys.argv[3]), float(sys.argv[4]))
        print(json.dumps([f.hex() for f in frames]), flush=True)
