"""Signed session cookies and CSRF tokens: pure functions of a secret, data and a clock.

A session is ``{"p": project, "u": user, "r": roles, "n": nonce, "e": expiry}``,
serialised as JSON, base64url'd and signed with HMAC-SHA256; the CSRF token of a session
is an HMAC of its nonce, so a form made for one session is refused in another. A
Keystone session adds ``"k"``, the opaque id of its token in the server-side
``TokenStore`` (never the token), and ``"pn"``/``"un"``, the project and user names
shown on the pages (cut to ``SHOWN_NAME`` characters: display only); its expiry is
the token's when that comes first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

COOKIE = "astara_session"
FLASH_COOKIE = "astara_flash"
MAX_COOKIE = 4096
ROLES = ("member", "admin")  # what the login page offers
KNOWN_ROLES = {"admin", "member", "reader"}  # what a session may hold
# A project or user name the login takes: what fits in an HTTP header as it is.
NAME = re.compile(r"[A-Za-z0-9._:@-]{1,255}")


SHOWN_NAME = 64  # a Keystone name as kept in the cookie: for display only, ids decide


def shown_name(name: str) -> str:
    return name if len(name) <= SHOWN_NAME else name[:SHOWN_NAME - 1] + "…"


def valid_name(value: str) -> bool:
    return bool(NAME.fullmatch(value))


@dataclass(frozen=True)
class Identity:
    """Whoever the dashboard acts for: the identity every API call carries."""

    project_id: str
    user_id: str
    roles: tuple[str, ...]
    nonce: str
    token_id: str | None = None  # Keystone: the token's id in the TokenStore
    auth_token: str | None = field(default=None, repr=False)  # looked up per request
    project_name: str = ""
    user_name: str = ""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def headers(self) -> dict[str, str]:
        """Keystone: the token (the APIs' auth_token drops any identity header); noauth:
        the identity headers the APIs' noauth mode reads."""
        if self.auth_token:
            return {"X-Auth-Token": self.auth_token}
        return {"X-Project-Id": self.project_id, "X-User-Id": self.user_id,
                "X-Roles": ",".join(self.roles)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, payload: str) -> str:
    return _b64(hmac.new(secret, f"{purpose}\0{payload}".encode(), hashlib.sha256).digest())


def sign(secret: bytes, data: dict, purpose: str = "session") -> str:
    payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(secret, purpose, payload)}"


def unsign(secret: bytes, value: str | None, purpose: str = "session") -> dict | None:
    """The data of a cookie this secret signed, else None (tampered, cut, not ours)."""
    if not value or len(value) > MAX_COOKIE or value.count(".") != 1:
        return None
    payload, mac = value.split(".")
    if not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def new_session(identity: Identity, now: float, max_age: int,
                expires_at: float | None = None) -> dict:
    """``expires_at``: a Keystone token's end, when it comes before ``max_age``."""
    end = int(now) + max_age
    if expires_at is not None:
        end = min(end, int(expires_at))
    data = {"p": identity.project_id, "u": identity.user_id, "r": list(identity.roles),
            "n": identity.nonce, "e": end}
    if identity.token_id:
        data.update(k=identity.token_id, pn=identity.project_name, un=identity.user_name)
    return data


def identity_of(data: dict | None, now: float) -> Identity | None:
    """The identity a verified session holds, None when absent or expired."""
    if not data or not isinstance(data.get("e"), int) or data["e"] < now:
        return None
    roles = data.get("r")
    if not isinstance(roles, list) or not all(r in KNOWN_ROLES for r in roles):
        return None
    fields = [data.get(k) for k in ("p", "u", "n")]
    if not all(isinstance(f, str) and f for f in fields):
        return None
    extra = {}
    if "k" in data:
        if not all(isinstance(data.get(k), str) for k in ("k", "pn", "un")) or not data["k"]:
            return None
        extra = {"token_id": data["k"], "project_name": data["pn"], "user_name": data["un"]}
    return Identity(fields[0], fields[1], tuple(roles), fields[2], **extra)


def csrf_token(secret: bytes, identity: Identity) -> str:
    return _mac(secret, "csrf", identity.nonce)


def csrf_ok(secret: bytes, identity: Identity, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(given, csrf_token(secret, identity))
