"""Member-to-member calls on the RPC API, signed: the operator token never leaves us.

A cluster member asking another (a forwarded command or show, a cluster-wide list's
fan-out) sends no ``X-Auth-Token``: it signs the request with the shared RPC token as
an HMAC-SHA256 key over the method, the path with its query, the body's SHA-256, a
Unix time, a random nonce and its member name (``X-Astara-Peer-Time``,
``X-Astara-Peer-Nonce``, ``X-Astara-Peer-Signature``, ``X-Astara-Forwarded``). The
receiver accepts a signature that matches, whose time is within ``SKEW`` seconds of its
clock, and that it has not seen before (``Replays``): a URL advertised through the
coordination service learns nothing it can reuse.
Decisions here are pure; the ASGI edge is ``rpc.PeerAuth``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlencode

TIME_HEADER = "X-Astara-Peer-Time"
SIGNATURE_HEADER = "X-Astara-Peer-Signature"
NONCE_HEADER = "X-Astara-Peer-Nonce"  # two identical calls in one second differ by it
SKEW = 30  # seconds of clock difference accepted between members
MAX_SEEN = 100_000  # signatures remembered for the replay check, at most


def target(path: str, query: str) -> str:
    """The signed request target: the (decoded) path and the query's pairs, sorted, so
    that re-encoding on the way does not matter."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return path + ("?" + urlencode(pairs) if pairs else "")


def signature(token: bytes, method: str, target: str, body: bytes, at: int,
              sender: str, nonce: str = "") -> str:
    digest = hashlib.sha256(body).hexdigest()
    text = "\n".join(("astara-peer-v1", method.upper(), target, digest, str(at), nonce,
                      sender))
    return hmac.new(token, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def headers(token: bytes, method: str, target: str, body: bytes, at: float, sender: str,
            forwarded_header: str) -> dict[str, str]:
    """What a member sends with a call to a peer (``target``: path and query)."""
    when, nonce = int(at), secrets.token_hex(16)
    return {TIME_HEADER: str(when), NONCE_HEADER: nonce, forwarded_header: sender,
            SIGNATURE_HEADER: signature(token, method, target, body, when, sender, nonce)}


def verify(token: bytes, method: str, target: str, body: bytes, at: str | None,
           given: str | None, sender: str | None, now: float,
           nonce: str | None = "") -> str | None:
    """Why a peer's signed request is refused (None: the signature holds). Pure."""
    if not at or not given or not sender:
        return "not signed"
    if not at.isascii() or not at.isdigit() or len(at) > 12:
        return "bad time"
    if abs(int(at) - now) > SKEW:
        return "signature too old (or clocks differ by more than 30 s)"
    if nonce is None or len(nonce) > 64:
        return "bad nonce"
    want = signature(token, method, target, body, int(at), sender, nonce)
    if not hmac.compare_digest(want.encode(), given.encode("latin-1", "replace")):
        return "bad signature"
    return None


class Replays:
    """Signatures seen within the skew window: each is accepted once."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def first(self, sig: str, now: float) -> bool:
        if len(self.seen) >= MAX_SEEN or len(self.seen) % 1024 == 0:
            self.seen = {s: t for s, t in self.seen.items() if t > now - 2 * SKEW}
        if sig in self.seen or len(self.seen) >= MAX_SEEN:
            return False
        self.seen[sig] = now
        return True
