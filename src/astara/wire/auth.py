"""How the orchestrator and an appliance authenticate each other: per-appliance secrets.

A deployment has one key (``appliance_auth_key_file``, held by the orchestrator
and the host-mode appliance agent). Each appliance's secret is HMAC-SHA256(key,
appliance id), the id being the appliance's compute instance id: the
orchestrator computes it for the appliance it calls, the agent for the appliance
a connection arrived for, so a secret leaked from one appliance opens no other.
The caller sends ``Authorization: Bearer <secret>``; the agent compares in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Authorization"
_CONTEXT = b"astara-appliance-api-v1:"


def appliance_secret(deployment_key: bytes, appliance_id: str) -> str:
    return hmac.new(deployment_key, _CONTEXT + appliance_id.encode(), hashlib.sha256).hexdigest()


def bearer(secret: str) -> str:
    return f"Bearer {secret}"


def is_bearer(header: str | None, secret: str) -> bool:
    """True when ``header`` is ``Bearer <secret>`` (constant time in the secret)."""
    if not header or not secret:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              secret.encode())
