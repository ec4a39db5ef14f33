"""Netlink dumps read with the standard library: send one request, parse only what is needed.

Used by the appliance's `observe.netlink` (rtnetlink: links, addresses, routes,
neighbours) and `observe.nftables` (nfnetlink: tables, named counters), and by the
compute agent's `agent.netlink` (links, neighbours), in the namespace of the calling
thread. pyroute2 decodes every attribute of every message through an
event loop of its own: ~10 ms per dump of an appliance's few dozen messages,
where `struct` over the raw bytes takes well under one. Each `Socket` lives for
one observation and is closed (no descriptor kept, none handed to ``select()``).
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x4, 0x100, 0x400
NLM_F_DUMP_INTR = 0x10  # the kernel's view changed during the dump: dump again
NLA_TYPE_MASK = 0x3FFF  # without the nested / network-byte-order flags
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
_ATTR = struct.Struct("=HH")
_ERRNO = struct.Struct("=i")
BUFFER = 1 << 17  # above the largest part the kernel sends (32 KiB)
TRIES = 3
GET_TIMEOUT = 2.0  # seconds: the kernel answers a GET at once


class Message:
    """One reply: its type, flags and payload (the family header, then attributes)."""

    __slots__ = ("flags", "payload", "type")

    def __init__(self, type_: int, flags: int, payload: bytes) -> None:
        self.type, self.flags, self.payload = type_, flags, payload


def attributes(data: bytes, offset: int,
               wanted: frozenset[int] | None = None) -> dict[int, bytes]:
    """The netlink attributes of `data` from `offset`: type → value (the last one wins);
    only the `wanted` types, if given, up to the first of each (a link has some fifty,
    the ones wanted among the first)."""
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        length, kind = _ATTR.unpack_from(data, offset)
        if length < 4:
            break
        kind &= NLA_TYPE_MASK
        if wanted is None:
            out[kind] = data[offset + 4:offset + length]
        elif kind in wanted and kind not in out:
            out[kind] = data[offset + 4:offset + length]
            if len(out) == len(wanted):
                break
        offset += (length + 3) & ~3
    return out


def string(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode()


def messages(data: bytes, seq: int) -> Iterator[Message | None]:
    """The messages of one datagram; None marks the end of the dump. OSError for an
    error the kernel answered."""
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind, flags, got, _pid = HEADER.unpack_from(data, offset)
        if length < HEADER.size:
            raise OSError(f"netlink: malformed message of length {length}")
        body = data[offset + HEADER.size:offset + length]
        offset += (length + 3) & ~3
        if got != seq:
            continue  # a reply to an earlier request on this socket
        if kind == NLMSG_DONE:
            # Its payload is the dump's own result (say, -EMSGSIZE), and it may carry
            # the "changed meanwhile" flag itself.
            if len(body) >= _ERRNO.size and (code := _ERRNO.unpack_from(body)[0]) < 0:
                raise OSError(-code, f"netlink dump ended with error {-code}")
            if flags & NLM_F_DUMP_INTR:
                yield Message(NLMSG_DONE, flags, b"")
            yield None
            return
        if kind == NLMSG_ERROR:
            (code,) = _ERRNO.unpack_from(body)
            if code:
                raise OSError(-code, f"netlink request refused: error {-code}")
            continue
        yield Message(kind, flags, body)


class Socket:
    """A netlink socket of `protocol`, opened in the current thread's namespace."""

    def __init__(self, protocol: int) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   protocol)
        self._seq = 0
        self._buffer = bytearray(BUFFER)

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        """One change (``kind`` with ``body``), acknowledged; OSError with the kernel's
        errno if it refused it."""
        seq = self._send(kind, NLM_F_ACK | flags, body)
        while self._answer(seq) is not None:
            pass  # a message before the acknowledgement: not asked for, skipped

    def get(self, kind: int, body: bytes) -> Message:
        """The reply to a request ``kind`` with ``body`` that the kernel answers with
        one message (a GET, not a dump). Acknowledged, so a request answered with no
        message is an OSError, not a wait; so is a refusal (the kernel's errno), or no
        answer within ``GET_TIMEOUT`` seconds."""
        seq = self._send(kind, NLM_F_ACK, body)
        self._sock.settimeout(GET_TIMEOUT)
        try:
            found = self._answer(seq)
        finally:
            self._sock.settimeout(None)
        if found is None:
            raise OSError(errno.ENOMSG, "netlink request acknowledged with no answer")
        return found

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self._seq += 1
        self._sock.send(HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | flags,
                                    self._seq, 0) + body)
        return self._seq

    def _answer(self, seq: int) -> Message | None:
        """The first message answering request ``seq`` (those of earlier requests are
        skipped): None for an acknowledgement, OSError for a refusal."""
        view = memoryview(self._buffer)
        while True:
            size = self._sock.recv_into(view)
            data = bytes(view[:size])
            offset = 0
            while offset + HEADER.size <= len(data):
                length, kind, flags, got, _pid = HEADER.unpack_from(data, offset)
                if length < HEADER.size:
                    raise OSError(f"netlink: malformed message of length {length}")
                body = data[offset + HEADER.size:offset + length]
                offset += (length + 3) & ~3
                if got != seq:
                    continue
                if kind != NLMSG_ERROR:
                    return Message(kind, flags, body)
                (code,) = _ERRNO.unpack_from(body)
                if code:
                    raise OSError(-code, "netlink request refused: "
                                  f"{errno.errorcode.get(-code, -code)}")
                return None

    def dump(self, kind: int, body: bytes) -> list[Message]:
        """Every reply to a dump request `kind` with `body` (the family header and any
        attributes); dumped again when the kernel says it changed meanwhile."""
        for _ in range(TRIES):
            found, interrupted = self._dump_once(kind, body)
            if not interrupted:
                return found
        # Never an inconsistent view: the caller's "any doubt" path takes over.
        raise OSError(errno.EAGAIN, f"netlink dump changed {TRIES} times in a row")

    def _dump_once(self, kind: int, body: bytes) -> tuple[list[Message], bool]:
        self._seq += 1
        seq = self._seq
        self._sock.send(HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP,
                                    seq, 0) + body)
        found: list[Message] = []
        interrupted = False
        view = memoryview(self._buffer)
        while True:
            size = self._sock.recv_into(view)
            for message in messages(bytes(view[:size]), seq):
                if message is None:
                    return found, interrupted
                interrupted = interrupted or bool(message.flags & NLM_F_DUMP_INTR)
                if message.type != NLMSG_DONE:
                    found.append(message)
