"""At the compute agent's start: are the host's data-plane limits big enough for this host?

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

The same holds for ``net.core.netdev_max_backlog`` (1000 by default): a broadcast on a
network's bridge (an ARP request) is copied to every port, and each copy into a veth
waits in the sending CPU's backlog; past the limit the copies are dropped. The
external network's bridge has a port per router, so from about 1,000 routers some
routers' ARP requests never reach the upstream gateway (measured: the routers whose
ports the bridge floods last never resolve it).
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


BACKLOG_SYSCTL = "net.core.netdev_max_backlog"


def backlog_needed(capacity: int) -> int:
    """Backlog slots for a broadcast copied to one port per instance, plus the reserve."""
    return capacity + RESERVE


def backlog_warning(backlog: int | None, capacity: int) -> str | None:
    want = backlog_needed(capacity)
    if backlog is None or backlog >= want:
        return None
    return (f"{BACKLOG_SYSCTL} = {backlog} is below what host_capacity = {capacity} may need "
            f"({want}: a broadcast on a bridge is copied to every port, one per instance at "
            f"most, through one CPU's backlog); past it the copies are dropped and ARP "
            f"requests on a large network go unanswered: raise it (e.g. sysctl -w "
            f"{BACKLOG_SYSCTL}={want}) or lower host_capacity; Astara changes no sysctl")


def read_backlog(proc: Path = Path("/proc/sys/net")) -> int | None:
    try:
        return int((proc / "core" / "netdev_max_backlog").read_text())
    except (OSError, ValueError):
        return None


def read(proc: Path = Path("/proc/sys/net")) -> dict[str, int]:
    """gc_thresh3 of each family this host has (none outside the root namespace)."""
    out = {}
    for family in ("ipv4", "ipv6"):
        try:
            out[family] = int((proc / family / "neigh/default/gc_thresh3").read_text())
        except (OSError, ValueError):
            continue
    return out


def check(capacity: int) -> list[str]:
    """The lines to warn with (none when the host is big enough)."""
    return [line for line in (warning(read(), capacity),
                              backlog_warning(read_backlog(), capacity)) if line]
