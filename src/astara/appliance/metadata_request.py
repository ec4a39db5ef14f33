"""An instance's metadata request, parsed strictly and rebuilt for the orchestrator (pure).

The appliance's metadata proxy (``metadata``) hands the bytes it read from an
instance to ``parse`` and, if they are one well-formed GET or HEAD without a body,
the proxy sends a request of its own with ``upstream_headers`` (never the client's
bytes). h11 parses the request line and headers (token names, field values without
CTLs, Content-Length rules); before it, ``parse`` refuses what h11 tolerates for
compatibility but a proxy must not, because the parser behind us may read it
differently: bare LF or bare CR line ends, obsolete line folding, and anything after
the head (a body or a pipelined second request). Of the client's headers only
``Accept`` and ``User-Agent`` are kept; every identity header (``X-Forwarded-For``,
``Forwarded``, ``X-Real-IP``, ``X-Instance-ID*``, ``X-Tenant-ID``, ``X-Astara-*``,
...) is dropped by construction, and the proxy adds the ones it knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import h11

MAX_HEAD = 8 * 1024
METHODS = (b"GET", b"HEAD")
KEPT_HEADERS = (b"accept", b"user-agent")
_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 (and lenient parsers) end a head


@dataclass(frozen=True)
class Refused(Exception):
    status: int
    reason: str


def head_length(buf: bytes) -> int | None:
    """Bytes of `buf` up to the end of the head as any parser would see it, or None if
    no head has ended yet (read more, unless `buf` is already over MAX_HEAD)."""
    found = _HEAD_END.search(buf)
    return found.end() if found else None


def parse(buf: bytes) -> h11.Request:
    """The one request in `buf` (a head and nothing after it), or Refused."""
    end = head_length(buf)
    if end is None or end > MAX_HEAD:
        raise Refused(400, "request head too large" if len(buf) > MAX_HEAD
                      else "incomplete request head")
    head = buf[:end]
    if end != len(buf):
        raise Refused(400, "data after the request head (a body or a pipelined request)")
    if not head.endswith(b"\r\n\r\n") or b"\r" in head.replace(b"\r\n", b"") \
            or b"\n" in head.replace(b"\r\n", b""):
        raise Refused(400, "line ends other than CRLF")
    if any(line[:1] in (b" ", b"\t") for line in head[:-4].split(b"\r\n")[1:]):
        raise Refused(400, "obsolete line folding")
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        raise Refused(400, f"malformed request: {exc}") from None
    if not isinstance(event, h11.Request):
        raise Refused(400, "incomplete request head")
    names = [name for name, _ in event.headers]
    if b"content-length" in names or b"transfer-encoding" in names:
        raise Refused(400, "metadata requests carry no body")
    if event.method not in METHODS:
        raise Refused(405, "only GET and HEAD")
    if not event.target.startswith(b"/"):
        raise Refused(400, "the request target must be a path")
    return event


def upstream_headers(request: h11.Request, instance_address: str,
                     router: str) -> list[tuple[bytes, bytes]]:
    """The headers of the request to forward: the kept ones and ours."""
    headers = [(b"Host", b"169.254.169.254")]
    headers += [(name, value) for name, value in request.headers if name in KEPT_HEADERS]
    return headers + [(b"X-Forwarded-For", instance_address.encode()),
                      (b"X-Astara-Router", router.encode()), (b"Connection", b"close")]


def refusal(status: int) -> bytes:
    reason = {400: b"Bad Request", 405: b"Method Not Allowed", 408: b"Request Timeout",
              502: b"Bad Gateway", 503: b"Service Unavailable",
              504: b"Gateway Timeout"}[status]
    body = reason + b"\n"
    allow = b"Allow: GET, HEAD\r\n" if status == 405 else b""
    return (b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s"
            b"Connection: close\r\n\r\n%s" % (status, reason, len(body), allow, body))
