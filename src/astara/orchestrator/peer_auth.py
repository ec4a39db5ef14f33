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
by more than the restart took). Our own clock stepped back after we started refuses
every call for as long (docs/cluster.md: start after the clock is synchronised). A call
signed for one member is refused by every other one.

A rolling upgrade from members that sign the earlier way (``astara-peer-v1``: without
the receiver, no ``X-Astara-Peer-To``) goes through ``[coordination]
peer_signature_transition`` (off by default): on, a member signs each call both ways
(the earlier form in ``X-Astara-Peer-Signature``, which an earlier member checks; this
one in ``X-Astara-Peer-Signature-V2``, which a member of this version checks first),
and accepts a call signed the earlier way alone. Off, it signs this way only and
refuses the earlier form, naming the option. Either way only signatures travel, never
the token; but while it is on, a call captured on its way to one member can be
replayed to another once (within ``SKEW``): the earlier form binds no receiver.
Replays are keyed by the sender, time and nonce (signed in both forms), so one call
is accepted once whichever of its signatures is shown; the time is the signed number
and only its canonical spelling is accepted, so a zero-padded time is no new call.
The earlier form here is the one before the receiver was signed at all: members built
between that and this option checked ``X-Astara-Peer-Signature`` as the bound form, so
a member with the option on loses its calls to them (never tagged).
Decisions here are pure; the ASGI edge is ``rpc.PeerAuth``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlencode

TIME_HEADER = "X-Astara-Peer-Time"
SIGNATURE_HEADER = "X-Astara-Peer-Signature"
# This version's signature when the earlier one goes in SIGNATURE_HEADER (transition).
SIGNATURE_V2_HEADER = "X-Astara-Peer-Signature-V2"
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


def signature_v1(token: bytes, method: str, target: str, body: bytes, at: int,
                 sender: str, nonce: str) -> str:
    """The earlier form (members before the receiver was signed): no receiver."""
    digest = hashlib.sha256(body).hexdigest()
    text = "\n".join(("astara-peer-v1", method.upper(), target, digest, str(at), nonce,
                      sender))
    return hmac.new(token, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def headers(token: bytes, method: str, target: str, body: bytes, at: float, sender: str,
            forwarded_header: str, receiver: str, both: bool = False) -> dict[str, str]:
    """What member ``sender`` sends with a call to member ``receiver`` (``target``: path
    and query); ``both``: signed the earlier way too (a rolling upgrade)."""
    when, nonce = int(at), secrets.token_hex(16)
    mine = signature(token, method, target, body, when, sender, nonce, receiver)
    out = {TIME_HEADER: str(when), NONCE_HEADER: nonce, forwarded_header: sender,
           TO_HEADER: receiver, SIGNATURE_HEADER: mine}
    if both:
        out[SIGNATURE_HEADER] = signature_v1(token, method, target, body, when, sender,
                                             nonce)
        out[SIGNATURE_V2_HEADER] = mine
    return out


def verify(token: bytes, method: str, target: str, body: bytes, at: str | None,
           given: str | None, sender: str | None, now: float,
           nonce: str | None = "", me: str = "", to: str | None = "",
           started: float = 0.0, given_v2: str | None = None,
           earlier: bool = False) -> str | None:
    """Why a peer's signed request is refused by member ``me`` (None: the signature
    holds, and was made for ``me``). ``to``: the receiver the request names;
    ``started``: when this run of ``me`` began (its clock); ``given_v2``: this form's
    signature when ``given`` is the earlier one; ``earlier``: a call signed the earlier
    way alone (no receiver named) is accepted. Pure."""
    if not at or not (given or given_v2) or not sender:
        return "not signed"
    bound = given_v2 is not None or to is not None
    if bound and to != me:
        return f"signed for member {(to or '')[:64]!r}, not this one"
    if not at.isascii() or not at.isdigit() or len(at) > 12 or at != str(int(at)):
        # Canonical only: "0" + at signs the same int(at), and would be a new call.
        return "bad time"
    if abs(int(at) - now) > SKEW:
        return "signature too old (or clocks differ by more than 30 s)"
    if int(at) < int(started):
        # Seen or not by the run before (its memory is gone): not to be trusted.
        return "signed before this member started (a replay, or the sender's clock is behind)"
    if nonce is None or len(nonce) > 64:
        return "bad nonce"
    if bound:
        want, shown = signature(token, method, target, body, int(at), sender, nonce, me), \
            given_v2 if given_v2 is not None else given
    elif not earlier:
        return ("signed the earlier way (astara-peer-v1, no receiver): accepted only with "
                "[coordination] peer_signature_transition, during a rolling upgrade")
    else:
        want, shown = signature_v1(token, method, target, body, int(at), sender,
                                   nonce), given
    if not shown or not hmac.compare_digest(want.encode(),
                                            shown.encode("latin-1", "replace")):
        return "bad signature"
    return None


def replay_key(at: str, nonce: str, sender: str, given: str) -> str:
    """What one call is remembered by: its time (as the number signed, however the
    header spells it: ``verify`` passed it, all digits), nonce and sender (signed in
    both forms), so showing its other signature is still a replay; the signature itself
    when it carries no nonce."""
    return f"{sender}\n{int(at)}\n{nonce}" if nonce else given


class Replays:
    """Calls seen within the skew window (``replay_key``): each is accepted once."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def first(self, key: str, now: float) -> bool:
        if len(self.seen) >= MAX_SEEN or len(self.seen) % 1024 == 0:
            self.seen = {s: t for s, t in self.seen.items() if t > now - 2 * SKEW}
        if key in self.seen or len(self.seen) >= MAX_SEEN:
            return False
        self.seen[key] = now
        return True
