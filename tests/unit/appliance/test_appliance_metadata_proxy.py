"""The appliance's metadata proxy: smuggled identities never reach the orchestrator.

Each case runs the real proxy on loopback between a raw client socket and a fake
orchestrator that records the bytes it receives; the proxy's own address for the
instance is 127.0.0.1. A malformed request gets a 400 and the orchestrator sees
nothing; a well-formed one arrives re-serialized with only our identity headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import h11
import pytest

from astara.appliance import metadata
from astara.appliance.metadata import MetadataProxy
from astara.appliance.metadata_request import MAX_HEAD, Refused, parse, upstream_headers

SPOOF = "10.0.0.66"
OK = b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nmeta"


@contextlib.asynccontextmanager
async def proxy_to(orchestrator=None, configured: bool = True, target=None):
    """The real proxy on loopback, in front of ``orchestrator`` (a stream handler started
    here) or of a fixed ``target``; yields the proxy's (host, port)."""
    async with contextlib.AsyncExitStack() as stack:
        if orchestrator is not None:
            upstream = await asyncio.start_server(orchestrator, "127.0.0.1", 0)
            await stack.enter_async_context(upstream)
            target = ("127.0.0.1", upstream.sockets[0].getsockname()[1], "r-1", "t-1")
        shown = target if configured else None
        proxy = MetadataProxy(lambda fam: socket.socket(fam, socket.SOCK_STREAM),
                              lambda: shown)
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        await stack.enter_async_context(server)
        yield server.sockets[0].getsockname()[:2]


async def ask(address, payload: bytes) -> bytes:
    """What a client sending ``payload`` gets back before the proxy closes."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(payload)
    try:
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def exchange(payload: bytes, configured: bool = True,
             answer: bytes | None = OK) -> tuple[bytes, bytes]:
    """(what the client got back, what the orchestrator received) for `payload`; the
    orchestrator sends `answer` and closes (None: it never answers)."""

    async def go() -> tuple[bytes, bytes]:
        seen = bytearray()

        async def orchestrator(reader, writer):
            seen.extend(await reader.read(65536))
            if answer is None:
                await reader.read()  # until the proxy gives up
            else:
                writer.write(answer)
                await writer.drain()
            writer.close()

        async with proxy_to(orchestrator, configured) as address:
            reply = await ask(address, payload)
        return reply, bytes(seen)

    return asyncio.run(go())


def answered(raw: bytes, method: bytes = b"GET") -> tuple[int, dict[bytes, bytes], bytes]:
    """The client's view of the reply: status, headers, body (framing checked by h11)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    response, body = conn.next_event(), b""
    assert isinstance(response, h11.Response)
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        body += event.data
    return response.status_code, dict(response.headers), body


def forwarded_headers(raw: bytes) -> list[tuple[bytes, bytes]]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    assert conn.next_event() == h11.EndOfMessage()  # and nothing after it
    return list(event.headers)


SMUGGLING = {
    "bare LF before a header": b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n"
                               b"X-Note: a\nX-Forwarded-For: 10.0.0.66\r\n\r\n",
    "bare LF everywhere": b"GET / HTTP/1.1\nHost: x\nX-Forwarded-For: 10.0.0.66\n\n",
    "CR only": b"GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\rX-Forwarded-For: 10.0.0.66\r\n\r\n",
    "header folding": b"GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n X-Forwarded-For: 1\r\n\r\n",
    "NUL in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\x00\r\n\r\n",
    "space before the colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For : 10.0.0.66"
                              b"\r\n\r\n",
    "pipelined second request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                                b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.66"
                                b"\r\n\r\n",
    "duplicate Content-Length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                b"Content-Length: 0\r\n\r\n",
    "a body": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "chunked body": b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"0\r\n\r\n",
    "oversized head": b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * MAX_HEAD + b"\r\n\r\n",
    "absolute-form target": b"GET http://10.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "not HTTP": b"hello\r\n\r\n",
}


@pytest.mark.parametrize("payload", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_malformed_requests_get_400_and_are_never_forwarded(payload):
    reply, seen = exchange(payload)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert seen == b""


def test_identity_headers_of_the_client_are_dropped_and_ours_added():
    spoofed = [b"X-Forwarded-For: 10.0.0.66", b"X-Forwarded-For: 10.0.0.67",
               b"Forwarded: for=10.0.0.66", b"X-Real-IP: 10.0.0.66",
               b"X-Instance-ID: vm-a", b"X-Instance-ID-Signature: 00", b"X-Tenant-ID: a",
               b"X-Astara-Router: r-a", b"X-Astara-Port-ID: p-a", b"Connection: keep-alive"]
    head = b"\r\n".join([b"GET /openstack/latest/meta_data.json?x=1 HTTP/1.1", b"Host: y",
                         b"User-Agent: cloud-init", *spoofed]) + b"\r\n\r\n"
    reply, seen = exchange(head)
    assert answered(reply)[::2] == (200, b"meta")
    assert seen.startswith(b"GET /openstack/latest/meta_data.json?x=1 HTTP/1.1\r\n")
    assert forwarded_headers(seen) == [
        (b"host", b"169.254.169.254"), (b"user-agent", b"cloud-init"),
        (b"x-forwarded-for", b"127.0.0.1"), (b"x-astara-router", b"r-1"),
        (b"connection", b"close")]


def test_a_plain_http10_request_is_forwarded():
    reply, seen = exchange(b"GET /latest/meta-data/ HTTP/1.0\r\n\r\n")
    assert answered(reply)[::2] == (200, b"meta")
    assert seen.startswith(b"GET /latest/meta-data/ HTTP/1.1\r\n")


def test_the_answer_is_streamed_whole_with_its_end_to_end_headers_only():
    body = bytes(range(256)) * 1024  # 256 KiB, no Content-Length: ends when it closes
    reply, _ = exchange(b"GET /latest/user-data HTTP/1.1\r\nHost: x\r\n\r\n",
                        answer=b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n" + body)
    status, headers, got = answered(reply)
    assert (status, got) == (200, body)
    assert headers[b"content-type"] == b"application/octet-stream"
    assert b"keep-alive" not in headers and headers[b"connection"] == b"close"


def test_a_head_request_gets_the_headers_and_no_body():
    reply, seen = exchange(b"HEAD /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n",
                           answer=b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
    assert seen.startswith(b"HEAD /latest/meta-data/ HTTP/1.1\r\n")
    assert answered(reply, b"HEAD") == (200, {b"content-length": b"4",
                                               b"connection": b"close"}, b"")
    assert reply.endswith(b"\r\n\r\n")


def test_an_orchestrator_error_status_is_relayed():
    reply, _ = exchange(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
                        answer=b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nNot Found\n")
    assert answered(reply)[::2] == (404, b"Not Found\n")


def test_an_answer_that_is_not_http_is_a_502():
    reply, _ = exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", answer=b"SSH-2.0-x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 502 ")


def test_an_orchestrator_that_never_answers_is_a_504(monkeypatch):
    monkeypatch.setattr(metadata, "UPSTREAM_TIMEOUT", 0.2)
    reply, seen = exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", answer=None)
    assert seen.startswith(b"GET / HTTP/1.1\r\n") and reply.startswith(b"HTTP/1.1 504 ")


def test_a_client_that_never_reads_is_reset_by_the_deadline(monkeypatch):
    """The orchestrator streams more than the buffers hold to a client that reads
    nothing: at REQUEST_DEADLINE both connections are dropped, not held forever."""
    monkeypatch.setattr(metadata, "REQUEST_DEADLINE", 0.3)

    async def go() -> BaseException:
        dropped: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

        async def orchestrator(reader, writer):
            await reader.read(65536)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
            try:
                while True:
                    writer.write(b"x" * 65536)
                    await writer.drain()
            except OSError as exc:
                dropped.set_result(exc)
            writer.close()

        async with proxy_to(orchestrator) as address:
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(address)
            client.sendall(b"GET /latest/user-data HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                gone = await asyncio.wait_for(dropped, 5)
                # What reached the client before the reset, then the reset (not an
                # EOF after a flush that would wait for the client to read).
                client.settimeout(5)
                with pytest.raises(ConnectionResetError):
                    while client.recv(1 << 20):
                        pass
            finally:
                client.close()
        return gone

    assert isinstance(asyncio.run(go()), OSError)


def test_an_answer_slower_in_total_than_the_deadline_is_a_504(monkeypatch):
    """Each read of the orchestrator's answer is within UPSTREAM_TIMEOUT but its head
    never completes: the request as a whole is bounded."""
    monkeypatch.setattr(metadata, "REQUEST_DEADLINE", 0.3)

    async def go() -> bytes:
        async def orchestrator(reader, writer):
            await reader.read(65536)
            writer.write(b"HTTP/1.1 200 OK\r\n")
            with contextlib.suppress(OSError):
                while True:  # a header line every 50 ms, never the blank line
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.05)

        async with proxy_to(orchestrator) as address:
            return await ask(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    assert asyncio.run(go()).startswith(b"HTTP/1.1 504 ")


def test_connections_beyond_the_cap_get_503_and_are_not_forwarded(monkeypatch):
    monkeypatch.setattr(metadata, "MAX_CONNECTIONS", 2)
    request = b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n"

    async def go() -> tuple[bytes, int, bytes]:
        seen: asyncio.Queue[bytes] = asyncio.Queue()
        release = asyncio.Event()

        async def orchestrator(reader, writer):
            await seen.put(await reader.read(65536))
            await release.wait()
            writer.write(OK)
            await writer.drain()
            writer.close()

        async with proxy_to(orchestrator) as address:
            held = [asyncio.create_task(ask(address, request)) for _ in range(2)]
            for _ in held:  # both are in flight, waiting for the orchestrator
                await asyncio.wait_for(seen.get(), 5)
            refused = await ask(address, request)
            forwarded_while_full = seen.qsize()
            release.set()
            for reply in await asyncio.gather(*held):
                assert answered(reply)[::2] == (200, b"meta")
            after = await ask(address, request)  # the slots are free again
        return refused, forwarded_while_full, after

    refused, forwarded_while_full, after = asyncio.run(go())
    assert refused.startswith(b"HTTP/1.1 503 ") and forwarded_while_full == 0
    assert answered(after)[::2] == (200, b"meta")


def test_a_head_that_never_ends_gets_408(monkeypatch):
    monkeypatch.setattr(metadata, "HEAD_TIMEOUT", 0.2)
    reply, seen = exchange(b"GET / HTTP/1.1\rHost: x\r\r")  # CR only: never a head end
    assert reply.startswith(b"HTTP/1.1 408 ") and seen == b""


def test_other_methods_are_refused():
    reply, seen = exchange(b"POST /openstack/latest/password HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 405 ") and seen == b""


def test_an_unconfigured_appliance_answers_503():
    reply, seen = exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", configured=False)
    assert reply.startswith(b"HTTP/1.1 503 ") and seen == b""


def test_an_unreachable_orchestrator_is_a_502():
    async def go() -> bytes:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
        probe.close()  # nothing listens there now
        async with proxy_to(target=("127.0.0.1", dead, "r-1", "t-1")) as address:
            return await ask(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    assert asyncio.run(go()).startswith(b"HTTP/1.1 502 ")


def test_parse_and_upstream_headers_are_pure():
    request = parse(b"HEAD /latest/ HTTP/1.1\r\nhost: x\r\naccept: */*\r\n\r\n")
    assert (request.method, request.target) == (b"HEAD", b"/latest/")
    assert upstream_headers(request, "192.0.2.10", "r-1") == [
        (b"Host", b"169.254.169.254"), (b"accept", b"*/*"),
        (b"X-Forwarded-For", b"192.0.2.10"), (b"X-Astara-Router", b"r-1"),
        (b"Connection", b"close")]
    with pytest.raises(Refused) as refused:
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert refused.value.status == 400
