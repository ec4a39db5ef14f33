"""How a metadata proxy vouches for an instance: Nova's ``X-Instance-ID-Signature``.

The proxy (the orchestrator's, for appliances' instances) sends the hex HMAC-SHA256
of the instance id keyed with the secret it shares with the metadata API
(``service_metadata_proxy`` in Nova), so a real Nova metadata API accepts it too. The
metadata API (``compute_service.metadata``) checks it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Instance-ID-Signature"


def sign(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def is_signed(secret: str, instance_id: str, signature: str | None) -> bool:
    """True when ``signature`` is the instance id's signature (constant time)."""
    return bool(secret and signature) and hmac.compare_digest(
        sign(secret, instance_id).encode(), (signature or "").encode("utf-8", "replace"))
