"""The metadata proxy: instances' requests to 169.254.169.254 go to the orchestrator.

nftables redirects internal traffic for 169.254.169.254:80 to this proxy (port
9697 in the appliance namespace). For each connection it reads one request head,
parses it strictly (``metadata_request``: a malformed head, a body or a pipelined
second request gets a 400 and nothing is forwarded), connects from inside the
namespace to the orchestrator's metadata address and sends a request it serialized
itself: the client's method and path, ``X-Forwarded-For`` = the connection's peer
address (the instance, as this namespace sees it) and ``X-Astara-Router``; no
identity header the client sent survives. The orchestrator's answer is relayed.
One request per connection (``Connection: close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

import h11

from astara.appliance.metadata_request import (
    MAX_HEAD,
    Refused,
    head_length,
    parse,
    rebuild,
    refusal,
)

HEAD_TIMEOUT = 10.0  # a client that has not sent a whole head by then gets a 408
LINGER_BYTES = 64 * 1024  # read (and drop) after a refusal, so the 400 is not lost to an RST


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """What the client sent until its head ended (however it ended), it closed, or
    MAX_HEAD was passed; whatever arrived in the same reads is included."""
    buf = b""
    while head_length(buf) is None and len(buf) <= MAX_HEAD:
        chunk = await reader.read(4096)
        if not chunk:
            break
        buf += chunk
    return buf


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  status: int) -> None:
    writer.write(refusal(status))
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        drained = 0
        async with asyncio.timeout(1.0):
            while drained < LINGER_BYTES and (chunk := await reader.read(65536)):
                drained += len(chunk)


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


class MetadataProxy:
    """`target()` returns (address, port, router, tenant), or None while unconfigured.
    The tenant is not sent: the orchestrator takes the instance's project from its port."""

    def __init__(self, make_socket: Callable[[int], socket.socket],
                 target: Callable[[], tuple[str, int, str, str] | None]) -> None:
        self._make_socket, self._target = make_socket, target

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(HEAD_TIMEOUT):
                    buf = await read_head(reader)
            except TimeoutError:
                await _refuse(reader, writer, 408)
                return
            try:
                request = parse(buf)
            except Refused as refused:
                await _refuse(reader, writer, refused.status)
                return
            target = self._target()
            if target is None:
                await _refuse(reader, writer, 503)
                return
            address, port, router, _tenant = target
            source_ip = writer.get_extra_info("peername")[0]
            try:
                upstream = rebuild(request, source_ip, router)
            except h11.LocalProtocolError:  # a router name no header can carry
                await _refuse(reader, writer, 502)
                return
            await self._forward(upstream, address, port, reader, writer)
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    async def _forward(self, upstream: bytes, address: str, port: int,
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket | None = None
        try:
            sock = self._make_socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except OSError:
            if sock is not None:
                sock.close()
            await _refuse(reader, writer, 502)
            return
        try:
            up_writer.write(upstream)
            await up_writer.drain()
            await _relay(up_reader, writer)
        except OSError:
            return  # mid-answer: the client sees the connection end
        finally:
            with contextlib.suppress(OSError):
                up_writer.close()
