"""haproxy's counters of a listener: parsed from a status report, carried over restarts. Pure.

The orchestrator reports, per listener, the counters haproxy shows now (``stats`` in
``PUT /v2/astara/loadbalancers/{id}/statuses``) and which haproxy run they come from
(``stats_epoch``: the appliance instance and haproxy worker). haproxy starts again
from 0 on every reload, restart or new appliance, so the service keeps, per
listener, ``base`` (what earlier runs counted) and ``last`` (the latest counters of
the current run): the API shows ``base + last`` for the four totals, which never go
backwards, and the latest ``active_connections`` as it is. ``accumulate`` decides:
a new epoch, or any total lower than before (a restart the epoch did not show),
adds the previous run's ``last`` into ``base``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from astara.loadbalancer_service import errors

TOTALS = ("bytes_in", "bytes_out", "total_connections", "request_errors")
NAMES = ("bytes_in", "bytes_out", "active_connections", "total_connections",
         "request_errors")
MAX_COUNTER = 2**63 - 1  # a BIGINT column
MAX_EPOCH = 255


@dataclass(frozen=True)
class Counters:
    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0
    total_connections: int = 0
    request_errors: int = 0

    def view(self) -> dict[str, int]:
        """Octavia's ``{"stats": {...}}`` body's inside."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Kept:
    """What the service holds for one listener."""

    epoch: str
    last: Counters
    base: Counters  # its active_connections is unused (0)

    def shown(self) -> Counters:
        return Counters(**{n: getattr(self.base, n) + getattr(self.last, n) for n in TOTALS},
                        active_connections=self.last.active_connections)


def parse(attr: str, value: Any) -> Counters:
    """The five counters (each an integer of 0 or more; a missing one is 0), or a 400."""
    if not isinstance(value, dict):
        raise errors.invalid_input(attr, value, "Wrong type. Expected 'dict', got "
                                                f"'{type(value).__name__}'")
    for key in value:
        if key not in NAMES:
            raise errors.unknown_attribute(attr, str(key))
    out = {}
    for name in NAMES:
        number = value.get(name, 0)
        if isinstance(number, bool) or not isinstance(number, int) \
                or not 0 <= number <= MAX_COUNTER:
            raise errors.invalid_input(f"{attr}.{name}", number,
                                       "Expected an integer of 0 or more.")
        out[name] = number
    return Counters(**out)


def parse_epoch(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_EPOCH:
        raise errors.invalid_input("stats_epoch", value,
                                   f"Expected a string of at most {MAX_EPOCH} characters.")
    return value


def accumulate(kept: Kept | None, epoch: str, now: Counters) -> Kept:
    """What to keep after a report of ``now`` from run ``epoch``."""
    if kept is None:
        return Kept(epoch, now, Counters())
    restarted = epoch != kept.epoch or any(getattr(now, n) < getattr(kept.last, n)
                                           for n in TOTALS)
    if not restarted:
        return Kept(epoch, now, kept.base)
    base = Counters(**{n: min(MAX_COUNTER, getattr(kept.base, n) + getattr(kept.last, n))
                       for n in TOTALS})
    return Kept(epoch, now, base)


def total(parts: list[Counters]) -> Counters:
    """A load balancer's: the sum of its listeners'."""
    return Counters(**{n: sum(getattr(p, n) for p in parts) for n in NAMES})
