"""The load balancer page's forms as Octavia request bodies (pure: no I/O).

Each takes the form's strings and returns the body's fields, or raises ``ApiError``
(400) in plain words for what the dashboard can see is wrong (a port that is not a
number, a protocol it does not offer); the load-balancer API checks everything again
and its refusals are shown as it words them.
"""

from __future__ import annotations

import re

from astara.dashboard.clients import ApiError

LISTENER_PROTOCOLS = ("HTTP", "TCP", "HTTPS")  # HTTPS: passed through, not ended
POOL_PROTOCOLS = ("HTTP", "TCP", "HTTPS", "PROXY")
ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
MONITOR_TYPES = ("HTTP", "TCP", "PING", "HTTPS", "TLS-HELLO")
MAX_NAME = 255


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ApiError(400, f"Choose a {what}: {', '.join(allowed)}.")
    return value


def _int(value: str, low: int, high: int, what: str) -> int:
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,10}", text) or not low <= int(text) <= high:
        raise ApiError(400, f"The {what} must be a whole number from {low} to {high}.")
    return int(text)


def _name(value: str) -> str:
    return value.strip()[:MAX_NAME]


def listener(name: str, protocol: str, port: str) -> dict:
    return {"name": _name(name), "protocol": _choice(protocol, LISTENER_PROTOCOLS,
                                                     "listener protocol"),
            "protocol_port": _int(port, 1, 65535, "port")}


def pool(name: str, protocol: str, algorithm: str) -> dict:
    return {"name": _name(name), "protocol": _choice(protocol, POOL_PROTOCOLS,
                                                     "pool protocol"),
            "lb_algorithm": _choice(algorithm, ALGORITHMS, "balancing algorithm")}


def member(name: str, address: str, port: str) -> dict:
    address = address.strip()
    if not address or len(address) > 64:
        raise ApiError(400, "Give the member's IP address.")
    return {"name": _name(name), "address": address,
            "protocol_port": _int(port, 1, 65535, "port")}


def healthmonitor(name: str, kind: str, delay: str, timeout: str, retries: str) -> dict:
    return {"name": _name(name), "type": _choice(kind, MONITOR_TYPES, "monitor type"),
            "delay": _int(delay, 1, 3600, "delay (seconds)"),
            "timeout": _int(timeout, 1, 3600, "timeout (seconds)"),
            "max_retries": _int(retries, 1, 10, "number of retries")}
