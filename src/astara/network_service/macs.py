"""MAC address generation: the configured base with random trailing octets."""

from __future__ import annotations

import secrets


def random_mac(base: str) -> str:
    octets = base.lower().split(":")
    fixed = octets[:3]
    tail = [f"{secrets.randbelow(256):02x}" for _ in range(3)]
    return ":".join(fixed + tail)
