"""Size the host's neighbour tables for a bench run, as an operator is told to.

The compute agent warns when ``gc_thresh3`` is below what its instances need (2
dynamic entries each + 128, ``neighbour_limits.needed``) and changes no sysctl
itself. A run of 1,000 routers on a default host (1024) fails for that reason alone:
a new router's first ARP is refused (``neighbor table overflow!``). With
``--raise-neigh-limits`` the bench sets gc_thresh3 (and gc_thresh2 to half of it) for
the run and puts the host's values back afterwards, saying so; without it, it says
what would be needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from astara.compute_service.agent.neighbour_limits import needed

PROC = Path("/proc/sys/net")
KEYS = ("gc_thresh2", "gc_thresh3")


def _path(family: str, key: str) -> Path:
    return PROC / family / "neigh" / "default" / key


@contextlib.contextmanager
def sized_for(instances: int, raise_limits: bool) -> Iterator[None]:
    want = needed(instances)
    saved: dict[Path, str] = {}
    try:
        for family in ("ipv4", "ipv6"):
            current = int(_path(family, "gc_thresh3").read_text())
            if current >= want:
                continue
            if not raise_limits:
                print(f"note: {family} gc_thresh3 = {current} is below the {want} entries "
                      f"{instances} instances need (expect 'neighbor table overflow'); "
                      "--raise-neigh-limits sets it for the run", flush=True)
                continue
            for key, value in (("gc_thresh3", want), ("gc_thresh2", want // 2)):
                path = _path(family, key)
                saved[path] = path.read_text()
                path.write_text(str(value))
            print(f"{family} gc_thresh3 set to {want} (gc_thresh2 {want // 2}) for the run; "
                  "restored at the end", flush=True)
        yield
    finally:
        for path, value in saved.items():
            path.write_text(value)
