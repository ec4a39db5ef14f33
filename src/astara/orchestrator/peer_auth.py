"""Member-to-member calls on the RPC API, signed: the operator token never leaves us.

A cluster member asking another (a forwarded command or show, a cluster-wide list's
fan-out) sends no ``X-Auth-Token``: it signs the request with the shared RPC token as
an HMAC-SHA256 key over the method, the path with its query, the body's SHA-256, a
Unix time, a random nonce, its member name and the receiving member's name
(``X-Astara-Peer-Time``, ``X-Astara-Peer-Nonce``, ``X-Astara-Peer-Signature``,
``X-Astara-Forwarded``, ``X-Astara-Peer-To``). The receiver accepts a signature that
matches with its own name as the receiver, whose time is within ``SKEW`` seconds of its
clock, not dated before the second its run started in, and that it has not seen
before (``Replays``, in memory). The start rule closes a restart without a store: the
signatures the run before saw are forgotten, but each is dated before that run died,
and a restart takes more than a second (unless the sender's clock runs ahead of ours
by more than the restart took). A call signed for one member is refused by every other
one.
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
TO_HEADER = "X-Astara-Peer-To"  # the receiver's name (signed): for a clear refusal
SKEW = 30  # seconds of clock difference accepted between members
MAX_SEEN = 100_000  # signatures remembered for the replay check, at most


def target(path: str, query: str) -> str:
    """The signed request target: the (decoded) path and the query's pairs, sorted, so
    that re-encoding on the way does not matter."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return path + ("?" + urlencode(pairs) if pairs else "")


def signature(token: bytes, method: str, target: str, body: bytes, at: int,
              sender: str, nonce: str = "", receiver: str = "") -> str:
    digest = hashlib.sha256(body).hexdigest()
    text = "\n".join(("astara-peer-v2", method.upper(), target, digest, str(at), nonce,
                      sender, receiver))
    return hmac.new(token, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def headers(token: bytes, method: str, target: str, body: bytes, at: float, sender: str,
            forwarded_header: str, receiver: str) -> dict[str, str]:
    """What member ``sender`` sends with a call to member ``receiver`` (``target``: path
    and query)."""
    when, nonce = int(at), secrets.token_hex(16)
    return {TIME_HEADER: str(when), NONCE_HEADER: nonce, forwarded_header: sender,
            TO_HEADER: receiver,
            SIGNATURE_HEADER: signature(token, method, target, body, when, sender, nonce,
                                        receiver)}


def verify(token: bytes, method: str, target: str, body: bytes, at: str | None,
           given: str | None, sender: str | None, now: float,
           nonce: str | None = "", me: str = "", to: str | None = "",
           started: float = 0.0) -> str | None:
    """Why a peer's signed request is refused by member ``me`` (None: the signature
    holds, and was made for ``me``). ``to``: the receiver the request names;
    ``started``: when this run of ``me`` began (its clock). Pure."""
    if not at or not given or not sender:
        return "not signed"
    if to != me:
        return f"signed for member {(to or '')[:64]!r}, not this one"
    if not at.isascii() or not at.isdigit() or len(at) > 12:
        return "bad time"
    if abs(int(at) - now) > SKEW:
        return "signature too old (or clocks differ by more than 30 s)"
    if int(at) < int(started):
        # Seen or not by the run before (its memory is gone): not to be trusted.
        return "signed before this member started (a replay, or the sender's clock is behind)"
    if nonce is None or len(nonce) > 64:
        return "bad nonce"
    want = signature(token, method, target, body, int(at), sender, nonce, me)
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
