"""Where a config push's time went: named phases, measured and told back.

`Phases` adds up the wall time of named steps (`converge` times observe, netlink,
render, nftables, dnsmasq, ...; the API adds parse, the lock and the worker thread
queue). The PUT answer carries them in a ``Server-Timing`` header (W3C Server
Timing: ``name;dur=<ms>``), so a caller or a bench sees where one push's time went
without reading the agent's log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Phases:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}  # in the order first timed

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t)

    def merge(self, other: Phases) -> None:
        for name, seconds in other.seconds.items():
            self.add(name, seconds)


def server_timing(seconds: dict[str, float]) -> str:
    """The ``Server-Timing`` header value: each phase in milliseconds. Pure."""
    return ", ".join(f"{name};dur={s * 1e3:.2f}" for name, s in seconds.items())


def parse_server_timing(value: str) -> dict[str, float]:
    """Phase -> seconds from a ``Server-Timing`` value (entries without ``dur``
    skipped). Pure."""
    out: dict[str, float] = {}
    for entry in value.split(","):
        name, *params = (p.strip() for p in entry.split(";"))
        for p in params:
            key, _, number = p.partition("=")
            if key == "dur" and name:
                out[name] = float(number) / 1e3
    return out
