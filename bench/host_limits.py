"""Size the host's data-plane limits for a bench run, as an operator is told to.

The compute agent warns at start when the host is too small for its instances
(``neighbour_limits``: the neighbour tables' ``gc_thresh3``, 2 dynamic entries per
instance + 128, and ``net.core.netdev_max_backlog``, which a broadcast copied to every
port of a bridge must fit in) and changes no sysctl itself. A run of 1,000 routers
on a default host (1024 and 1000) fails for the backlog alone: the external
network's bridge floods each ARP request to 1,000 ports and drops the copies past
the backlog, so some routers never resolve the upstream gateway. With
``--raise-host-limits`` the bench sets both (gc_thresh2 to half of gc_thresh3) for
the run and puts the host's values back afterwards, saying so; without it, it says
what would be needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from astara.compute_service.agent.neighbour_limits import backlog_needed, needed

PROC = Path("/proc/sys/net")


def _wanted(instances: int) -> list[tuple[Path, int]]:
    out = []
    for family in ("ipv4", "ipv6"):
        table = PROC / family / "neigh" / "default"
        out += [(table / "gc_thresh3", needed(instances)),
                (table / "gc_thresh2", needed(instances) // 2)]
    return out + [(PROC / "core" / "netdev_max_backlog", backlog_needed(instances))]


@contextlib.contextmanager
def sized_for(instances: int, raise_limits: bool) -> Iterator[None]:
    saved: dict[Path, str] = {}
    try:
        for path, want in _wanted(instances):
            current = int(path.read_text())
            if current >= want:
                continue
            name = ".".join(("net", *path.relative_to(PROC).parts))
            if not raise_limits:
                print(f"note: {name} = {current} is below the {want} that {instances} "
                      "instances need; --raise-host-limits sets it for the run", flush=True)
                continue
            saved[path] = path.read_text()
            path.write_text(str(want))
            print(f"{name} set to {want} (was {current}) for the run; restored at the end",
                  flush=True)
        yield
    finally:
        for path, value in saved.items():
            path.write_text(value)
