"""An HA member's state for the status document: keepalived's role and conntrackd's
sync. Pure.

Called by `status` with what `apply.ha` found (the role the notify script recorded,
whether each daemon runs) and conntrackd's `-s` answer; the result is the status
document's `ha` section.
"""

from __future__ import annotations

import re

from astara.wire.appliance_config import HighAvailability
from astara.wire.appliance_status import HaStatus

_CACHE = re.compile(r"cache (internal|external):\s*\n\s*current active connections:\s*(\d+)")


def caches(stats: str | None) -> dict[str, int]:
    """{"internal": n, "external": n} from `conntrackd -s`; what it does not say is
    left out."""
    return {kind: int(n) for kind, n in _CACHE.findall(stats or "")}


def health(ha: HighAvailability, role: str | None, keepalived: bool, conntrackd: bool,
           stats: str | None) -> HaStatus:
    if not ha.conntrack_sync:
        sync = "off"
    else:
        sync = "running" if conntrackd and stats is not None else "not running"
    found = caches(stats) if ha.conntrack_sync else {}
    return HaStatus(role=role if keepalived and role else "unknown", sync=sync,
                    internal_connections=found.get("internal"),
                    external_connections=found.get("external"))
