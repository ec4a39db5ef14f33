"""One HTTP/1.1 GET on a fresh connection, framed by h11: the health check's status call.

The status call goes once per health period to each of thousands of appliances,
each on its own address, so a pooled client never gets to reuse a connection for
it; this does the one request without a pool, URL objects or middleware, at about a
third of httpx's CPU per call (``bench/orchestrator_idle.py``). Failures are told
apart as the health check needs: no connection, no answer in time, a broken answer.
"""

from __future__ import annotations

import socket
import time

import h11

MAX_BODY = 1 << 20  # a status document is a few kB


class Unreachable(Exception):
    """No connection: refused, no route, or the connect timed out."""


class NoAnswer(Exception):
    """Connected, but the answer did not come (whole) within the timeout."""


class BadAnswer(Exception):
    """Connected, then the connection broke or what came back is not a valid answer."""


class SourceGone(Exception):
    """The source address asked for is not on this host (any more): nothing was sent."""


def _connect(address: str, port: int, timeout: float, source: str | None) -> socket.socket:
    if source is None:
        return socket.create_connection((address, port), timeout=timeout)
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET,
                         socket.SOCK_STREAM)
    try:
        try:
            sock.bind((source, 0))
        except OSError as exc:
            raise SourceGone(f"{source}: {exc}") from exc
        sock.settimeout(timeout)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def get(address: str, port: int, path: str, headers: list[tuple[str, str]],
        timeout: float, source: str | None = None) -> tuple[int, bytes, str]:
    """``(status code, body, local address)``; ``timeout`` bounds the connect and the
    whole answer; ``source``, when given, is bound before connecting (``SourceGone``
    when it cannot be)."""
    deadline = time.monotonic() + timeout
    try:
        sock = _connect(address, port, timeout, source)
    except OSError as exc:  # refused, unreachable, timed out
        raise Unreachable(str(exc) or type(exc).__name__) from exc
    host = f"[{address}]" if ":" in address else address
    with sock:
        local = sock.getsockname()[0]
        conn = h11.Connection(h11.CLIENT)
        try:
            sock.sendall(conn.send(h11.Request(
                method="GET", target=path,
                headers=[("Host", f"{host}:{port}"), ("Connection", "close"), *headers]))
                + conn.send(h11.EndOfMessage()))
            return (*_answer(conn, sock, deadline), local)
        except TimeoutError as exc:
            raise NoAnswer(f"no answer within {timeout:g} s") from exc
        except (OSError, h11.ProtocolError) as exc:
            raise BadAnswer(str(exc) or type(exc).__name__) from exc


def _answer(conn: h11.Connection, sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    status, body = 0, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            # Each read gets what is left of the timeout: a trickle cannot hold us longer.
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            conn.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise BadAnswer(f"answer larger than {MAX_BODY} bytes")
        elif isinstance(event, h11.EndOfMessage):
            return status, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise BadAnswer("connection closed before the answer")
