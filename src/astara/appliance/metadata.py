"""The metadata proxy: instances' requests to 169.254.169.254 go to the orchestrator.

nftables redirects internal traffic for 169.254.169.254:80 to this proxy (port
9697 in the appliance namespace). For each request it connects, from inside the
namespace, to the orchestrator's metadata address and forwards the request with
`X-Forwarded-For` set to the instance's address and the router and tenant named,
then relays the answer. One HTTP request per connection (`Connection: close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

MAX_HEAD = 64 * 1024
_DROP = (b"x-forwarded-for:", b"x-astara-router:", b"x-tenant-id:", b"connection:")


def rewrite_head(head: bytes, source_ip: str, router: str, tenant: str) -> bytes:
    """Pure: the request head with our headers set (and spoofed ones removed)."""
    lines = head.split(b"\r\n")
    kept = [line for line in lines[1:] if line and not line.lower().startswith(_DROP)]
    extra = [f"X-Forwarded-For: {source_ip}", f"X-Astara-Router: {router}",
             f"X-Tenant-ID: {tenant}", "Connection: close"]
    return b"\r\n".join([lines[0], *kept, *(e.encode() for e in extra)]) + b"\r\n\r\n"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            writer.close()


class MetadataProxy:
    """`target()` returns (address, port, router, tenant), or None while unconfigured."""

    def __init__(self, make_socket: Callable[[int], socket.socket],
                 target: Callable[[], tuple[str, int, str, str] | None]) -> None:
        self._make_socket, self._target = make_socket, target

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target = self._target()
            head = await reader.readuntil(b"\r\n\r\n")
            if target is None or len(head) > MAX_HEAD:
                writer.write(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                return
            address, port, router, tenant = target
            source_ip = writer.get_extra_info("peername")[0]
            sock = self._make_socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
            up_writer.write(rewrite_head(head, source_ip, router, tenant))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            with contextlib.suppress(OSError):
                writer.write(b"HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        finally:
            with contextlib.suppress(OSError):
                writer.close()
