"""A small rtnetlink writer: encode requests, send many in one batch, read every ack.

Used by `apply.netlink` (inside the appliance namespace). Many requests travel in
one `send()`: the kernel runs them in order and acknowledges each one, so adding
1,000 floating IP addresses costs one system call and one read of the acks
instead of 1,000 round trips through a general netlink library. Each request's
outcome (0 or an errno, with the kernel's extended-ack message) is returned in
order, so the caller knows exactly what was done and can undo it.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

NETLINK_ROUTE, SOL_NETLINK = 0, 270
NETLINK_CAP_ACK, NETLINK_EXT_ACK = 10, 11
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200
NLMSGERR_ATTR_MSG = 1
RTM_NEWLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 16, 20, 21, 24, 25
IFLA_MTU = 4
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_NOWHERE = 0, 255
IFF_UP = 1
CHUNK = 32 * 1024  # bytes per send(): well under the socket's send buffer
_HDR = struct.Struct("=IHHII")


class Request(NamedTuple):
    kind: int
    flags: int
    body: bytes


class Outcome(NamedTuple):
    errno: int  # 0: done
    message: str = ""  # the kernel's extended ack, if any


def _attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + bytes(-size % 4)


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value))


def set_link(index: int, mtu: int, up: bool) -> Request:
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP)
    return Request(RTM_NEWLINK, 0, body + _u32(IFLA_MTU, mtu))


def address(add: bool, index: int, ip: bytes, prefixlen: int) -> Request:
    """`ip` is packed (4 or 16 bytes). Adding an existing address answers EEXIST."""
    family = socket.AF_INET6 if len(ip) == 16 else socket.AF_INET
    body = struct.pack("=BBBBI", family, prefixlen, IFA_F_NODAD, RT_SCOPE_UNIVERSE, index)
    body += _attr(IFA_ADDRESS, ip)
    if family == socket.AF_INET:
        body += _attr(IFA_LOCAL, ip)
    body += _u32(IFA_FLAGS, IFA_F_NODAD)
    return Request(RTM_NEWADDR if add else RTM_DELADDR,
                   NLM_F_CREATE | NLM_F_EXCL if add else 0, body)


def route(add: bool, dst: bytes, dst_len: int, gateway: bytes | None,
          oif: int | None) -> Request:
    """A static route in the main table. Deleting matches any scope, as `ip route del`."""
    family = socket.AF_INET6 if len(dst) == 16 else socket.AF_INET
    scope = RT_SCOPE_UNIVERSE if add else RT_SCOPE_NOWHERE
    body = struct.pack("=BBBBBBBBI", family, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC,
                       scope, RTN_UNICAST if add else 0, 0)
    if dst_len:
        body += _attr(RTA_DST, dst)
    if gateway is not None:
        body += _attr(RTA_GATEWAY, gateway)
    if oif is not None:
        body += _u32(RTA_OIF, oif)
    return Request(RTM_NEWROUTE if add else RTM_DELROUTE,
                   NLM_F_CREATE | NLM_F_EXCL if add else 0, body)


class Rtnl:
    """One rtnetlink socket of the current thread's namespace."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        for opt in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            self._sock.setsockopt(SOL_NETLINK, opt, 1)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._sock.bind((0, 0))
        self._seq = 0

    def send(self, requests: list[Request]) -> list[Outcome]:
        """Run `requests` in order; one outcome per request, in the same order."""
        outcomes: list[Outcome] = []
        start = 0
        while start < len(requests):
            buf, seqs = bytearray(), {}
            while start < len(requests) and (not buf or len(buf) < CHUNK):
                req = requests[start]
                self._seq += 1
                seqs[self._seq] = start
                buf += _HDR.pack(_HDR.size + len(req.body), req.kind,
                                 NLM_F_REQUEST | NLM_F_ACK | req.flags, self._seq, 0)
                buf += req.body
                start += 1
            self._sock.send(bytes(buf))
            outcomes += self._acks(seqs)
        return outcomes

    def _acks(self, seqs: dict[int, int]) -> list[Outcome]:
        got: dict[int, Outcome] = {}
        while len(got) < len(seqs):
            data = self._sock.recv(1 << 20)
            offset = 0
            while offset + _HDR.size <= len(data):
                length, kind, flags, seq, _pid = _HDR.unpack_from(data, offset)
                if length < _HDR.size:
                    break
                if kind == NLMSG_ERROR and seq in seqs:
                    got[seq] = _outcome(data, offset, length, flags)
                offset += (length + 3) & ~3
        return [got[seq] for seq in sorted(seqs)]

    def close(self) -> None:
        self._sock.close()


def _outcome(data: bytes, offset: int, length: int, flags: int) -> Outcome:
    (code,) = struct.unpack_from("=i", data, offset + _HDR.size)
    if code == 0 or not flags & NLM_F_ACK_TLVS:
        return Outcome(-code)
    (orig_len,) = struct.unpack_from("=I", data, offset + _HDR.size + 4)
    pos = offset + _HDR.size + 4 + (_HDR.size if flags & NLM_F_CAPPED else orig_len)
    end = offset + length
    while pos + 4 <= end:
        size, kind = struct.unpack_from("=HH", data, pos)
        if size < 4:
            break
        if kind == NLMSGERR_ATTR_MSG:
            return Outcome(-code, data[pos + 4:pos + size].rstrip(b"\0").decode(errors="replace"))
        pos += (size + 3) & ~3
    return Outcome(-code)
