"""The metadata proxy: instances' requests to 169.254.169.254 go to the orchestrator.

nftables redirects internal traffic for 169.254.169.254:80 to this proxy (port
9697 in the appliance namespace). For each connection it reads one request head,
parses it strictly (``metadata_request``: a malformed head, a body or a pipelined
second request gets a 400 and nothing is forwarded) and sends the orchestrator's
metadata address a request of its own through httpcore (the HTTP engine under
httpx), on a connection opened from inside the namespace: the client's method and
path, ``X-Forwarded-For`` = the connection's peer address (the instance, as this
namespace sees it) and ``X-Astara-Router``; no identity header the client sent
survives. The answer is streamed back re-framed by h11 (status, end-to-end headers,
body); an orchestrator that cannot be reached, or breaks HTTP, before answering is a
502, one that does not answer within ``UPSTREAM_TIMEOUT`` a 504. One request per
connection (``Connection: close``). However the two sides behave, forwarding is
cut off ``REQUEST_DEADLINE`` after the head (an instance that never reads its answer has
its connection reset, and the orchestrator's closed), and one proxy serves at most
``MAX_CONNECTIONS`` connections at once: beyond them a client gets a 503 straight away.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

import h11
import httpcore

from astara.appliance.metadata_request import (
    MAX_HEAD,
    Refused,
    head_length,
    parse,
    refusal,
    upstream_headers,
)

HEAD_TIMEOUT = 10.0  # a client that has not sent a whole head by then gets a 408
UPSTREAM_TIMEOUT = 30.0  # connect, and each read or write of the orchestrator's answer
REQUEST_DEADLINE = 60.0  # the whole forward, writes to the client included
MAX_CONNECTIONS = 64  # per proxy (one appliance); more at once are answered 503
REFUSAL_TIME = 1.0  # sending a refusal and lingering for the client's rest
LINGER_BYTES = 64 * 1024  # read (and drop) after a refusal, so the 400 is not lost to an RST
# Framing and per-hop headers of the orchestrator's answer; h11 frames ours.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                        b"transfer-encoding", b"upgrade"})


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
        async with asyncio.timeout(REFUSAL_TIME):  # a client that does not read too
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            drained = 0
            while drained < LINGER_BYTES and (chunk := await reader.read(65536)):
                drained += len(chunk)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection now: with an RST, so neither our buffer nor the kernel's
    waits for a client that does not read."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()


class _NamespaceBackend(httpcore.AsyncNetworkBackend):
    """httpcore's connections, opened with the appliance's socket factory (a socket
    created inside the namespace) instead of the process's own."""

    def __init__(self, make_socket: Callable[[int], socket.socket]) -> None:
        self._make_socket = make_socket

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options=None) -> httpcore.AsyncNetworkStream:
        sock: socket.socket | None = None
        try:
            sock = self._make_socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            sock.setblocking(False)
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(sock, (host, port))
            return _Stream(*await asyncio.open_connection(sock=sock))
        except TimeoutError as exc:
            if sock is not None:
                sock.close()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise httpcore.ConnectError(str(exc)) from exc

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.UnsupportedProtocol("the metadata proxy speaks TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class MetadataProxy:
    """`target()` returns (address, port, router, tenant), or None while unconfigured.
    The tenant is not sent: the orchestrator takes the instance's project from its port."""

    def __init__(self, make_socket: Callable[[int], socket.socket],
                 target: Callable[[], tuple[str, int, str, str] | None]) -> None:
        self._backend = _NamespaceBackend(make_socket)
        self._target = target
        self.active = 0  # connections being handled

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active >= MAX_CONNECTIONS:
            # A 503 is reported as "busy, try again", a reset as a broken network;
            # the refusal itself is bounded in time (REFUSAL_TIME).
            try:
                await _refuse(reader, writer, 503)
            finally:
                with contextlib.suppress(OSError):
                    writer.close()
            return
        self.active += 1
        try:
            await self._handle(reader, writer)
        finally:
            self.active -= 1

    async def _handle(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
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
            await self._forward(buf, request, upstream_headers(request, source_ip, router),
                                address, port, reader, writer)
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    async def _forward(self, head: bytes, request: h11.Request,
                       headers: list[tuple[bytes, bytes]],
                       address: str, port: int, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        url = httpcore.URL(scheme=b"http", host=address.encode(), port=port,
                           target=request.target)
        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), UPSTREAM_TIMEOUT)
        answer = h11.Connection(h11.SERVER)  # frames our answer for this client's request
        answer.receive_data(head)  # (its method and HTTP version)
        answer.next_event()
        started = False
        try:
            async with asyncio.timeout(REQUEST_DEADLINE), \
                    httpcore.AsyncConnectionPool(network_backend=self._backend) as pool, \
                    pool.stream(request.method, url, headers=headers,
                                extensions={"timeout": timeouts}) as upstream:
                writer.write(answer.send(h11.Response(
                    status_code=upstream.status,
                    reason=upstream.extensions.get("reason_phrase", b""),
                    headers=[(k, v) for k, v in upstream.headers
                             if k.lower() not in HOP_BY_HOP] + [(b"Connection", b"close")])))
                started = True
                async for chunk in upstream.aiter_stream():
                    writer.write(answer.send(h11.Data(data=chunk)))
                    await writer.drain()
                writer.write(answer.send(h11.EndOfMessage()))
                await writer.drain()
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                h11.LocalProtocolError, OSError) as exc:
            # Mid-answer the client sees the connection end; before it, a 502 or 504.
            timeout = isinstance(exc, httpcore.TimeoutException | TimeoutError)
            if started:
                if timeout:  # the deadline: maybe a client that does not read
                    _reset(writer)
            else:
                await _refuse(reader, writer, 504 if timeout else 502)
