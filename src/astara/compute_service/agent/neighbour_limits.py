"""At the compute agent's start: is the host's neighbour table big enough for this host?

The kernel's ARP and ND tables are global to the host: every namespace's dynamic
entries count against ``net.ipv{4,6}.neigh.default.gc_thresh3`` (1024 by default;
the sysctls exist only in the root namespace), and past it the kernel refuses new
entries (``neighbor table overflow!``) and traffic to unresolved neighbours fails.
The management network is pinned (``neighbours``: PERMANENT entries do not count),
so what remains is the data plane: per instance slot (``host_capacity``) about
``PER_INSTANCE`` dynamic entries per family (a tenant instance's gateway and its
router's entry for it, or an appliance's upstream gateway), plus ``RESERVE`` for the
host's own neighbours. This says, in one line, which sysctl to raise when the host
is below that; it never changes a sysctl (the table is the host's, not Astara's).
"""

from __future__ import annotations

from pathlib import Path

PER_INSTANCE = 2
RESERVE = 128
SYSCTL = "net.{family}.neigh.default.gc_thresh3"


def needed(capacity: int) -> int:
    """Dynamic neighbour entries per family a host of ``capacity`` instances may hold."""
    return capacity * PER_INSTANCE + RESERVE


def warning(thresh3: dict[str, int], capacity: int) -> str | None:
    """One line naming each family (``ipv4``, ``ipv6``) whose gc_thresh3 is too low."""
    want = needed(capacity)
    low = {family: value for family, value in sorted(thresh3.items()) if value < want}
    if not low:
        return None
    now = ", ".join(f"{SYSCTL.format(family=f)} = {v}" for f, v in low.items())
    return (f"the host's neighbour table is smaller than host_capacity = {capacity} may need "
            f"({want} dynamic entries per family: {PER_INSTANCE} per instance + {RESERVE}): "
            f"{now}; past it the kernel logs 'neighbor table overflow!' and instances lose "
            f"traffic: raise it (e.g. sysctl -w "
            + " ".join(f"{SYSCTL.format(family=f)}={want}" for f in low)
            + ", gc_thresh2 to half of it) or lower host_capacity; Astara changes no sysctl")


def read(proc: Path = Path("/proc/sys/net")) -> dict[str, int]:
    """gc_thresh3 of each family this host has (none outside the root namespace)."""
    out = {}
    for family in ("ipv4", "ipv6"):
        try:
            out[family] = int((proc / family / "neigh/default/gc_thresh3").read_text())
        except (OSError, ValueError):
            continue
    return out


def check(capacity: int) -> str | None:
    return warning(read(), capacity)
