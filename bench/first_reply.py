"""One process that pings an address until its first reply (run inside a namespace).

``orchestrator_e2e.py`` starts it in the namespace of a host behind a router before
the router is asked for, so its own start is not timed. Every ``interval`` it sends
one ICMP echo request, whatever the last send said: with no route yet (no lease) the
send fails and it simply tries again, where ``ping`` exits and had to be started
again (two processes per 20 ms, on the CPU the router's making needs). It prints
``route <time>`` at its first send that found a route (the host got its lease and
default route), ``reply <time>`` at the first echo reply, and exits (1: none within
``timeout``). It prints ``ready`` first, once it can send: the clock starts after.
Times are ``time.time()``. Stdlib only (run with ``python -I -S``: a quick start).
Usage: first_reply.py ADDRESS [INTERVAL] [TIMEOUT]
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo(ident: int, seq: int) -> bytes:
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    body = b"astara-bench"
    return struct.pack("!BBHHH", 8, 0, checksum(head + body), ident, seq) + body


def is_reply(packet: bytes, ident: int, source: bytes) -> bool:
    """An echo reply to us from ``source`` (4 bytes) in a raw IPv4 socket's packet (its
    IP header first)."""
    if len(packet) < 20 or packet[12:16] != source:
        return False
    start = (packet[0] & 0x0F) * 4
    if len(packet) < start + 8:
        return False
    kind, _, _, got = struct.unpack("!BBHH", packet[start:start + 6])
    return kind == 0 and got == ident


def main() -> int:
    address = sys.argv[1]
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02
    deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 180.0)
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    routed, seq, due = False, 0, time.monotonic()
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= due:
            seq, due = (seq + 1) & 0xFFFF, now + interval
            try:
                sock.sendto(echo(ident, seq), (address, 0))
            except OSError:
                pass  # no route yet (no lease): sent again at the next interval
            else:
                if not routed:
                    routed = True
                    print(f"route {time.time():.6f}", flush=True)
        ready, _, _ = select.select([sock], [], [], max(0.0, due - time.monotonic()))
        if ready and is_reply(sock.recv(2048), ident, socket.inet_aton(address)):
            print(f"reply {time.time():.6f}", flush=True)
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
