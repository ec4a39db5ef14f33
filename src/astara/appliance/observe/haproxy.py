"""haproxy's `show info` and `show stat` (CSV) → the status document's `loadbalancer`
section. Pure.

Called by `status` with the text read from the stats socket (None when haproxy does
not answer) and the applied `LoadBalancer`, which says what exists and what an
operator set down. The counters are those of haproxy's current worker, which starts
from 0 at every reload: `stats_epoch` names that worker (`show info`'s `Pid` and
`Start_time_sec`) so that whoever keeps totals knows when they started again.
Names follow `render.haproxy`: frontend = listener id, backend =
`<pool id>:<mode>`, server = member id. A pool served in two modes has two backends:
its counters are summed and each member gets the worse of its two states.

    member    OFFLINE    admin down (itself, its pool, or haproxy shows MAINT)
              NO_MONITOR no health check runs ("no check")
              DRAINING   haproxy drains it (DRAIN)
              ONLINE     checks pass (UP, also "UP 1/3": failing, not yet down)
              ERROR      the monitor took it out (DOWN, also "DOWN 1/2"), or no stats
    pool      OFFLINE admin down; ERROR every enabled member ERROR; DEGRADED some;
              else ONLINE (a pool without members too: nothing in it fails)
    listener  OFFLINE admin down (its frontend is disabled); ONLINE when its frontend
              is OPEN (or FULL); else ERROR (not bound, haproxy not answering)
    load balancer  OFFLINE admin down; ERROR every enabled listener ERROR;
              DEGRADED any listener ERROR or any pool ERROR/DEGRADED; else ONLINE
"""

from __future__ import annotations

import contextlib
import csv
import io

from astara.wire.appliance_status import (
    ListenerHealth,
    LoadBalancerHealth,
    MemberHealth,
    PoolHealth,
    ProxyCounters,
)
from astara.wire.loadbalancer_config import LoadBalancer, Pool

Rows = dict[tuple[str, str], dict[str, str]]
# worst first: the state a member shown by two backends gets
_RANK = ["ERROR", "DRAINING", "ONLINE", "NO_MONITOR", "OFFLINE"]


def parse(text: str) -> Rows:
    """{(pxname, svname): {field: value}} from `show stat` output (after `show info`'s
    lines, if any)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if start is None:
        return {}
    lines = lines[start:]
    header = lines[0][2:].split(",")
    rows: Rows = {}
    for values in csv.reader(io.StringIO("\n".join(lines[1:]))):
        if len(values) < 2:
            continue
        row = dict(zip(header, values, strict=False))
        rows[(row.get("pxname", ""), row.get("svname", ""))] = row
    return rows


def info(text: str) -> dict[str, str]:
    """`show info`'s "Name: value" lines (those before `show stat`'s header)."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# "):
            break
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value.strip()
    return out


def epoch(text: str) -> str | None:
    """Which haproxy worker counted: its pid and start time (None: not shown)."""
    fields = info(text)
    pid, started = fields.get("Pid"), fields.get("Start_time_sec")
    return f"{pid}@{started}" if pid and started else None


def _int(row: dict[str, str], *names: str) -> int:
    total = 0
    for name in names:
        with contextlib.suppress(ValueError):  # a field haproxy left empty or odd
            total += int(row.get(name) or 0)
    return total


def counters(row: dict[str, str], errors: tuple[str, ...]) -> ProxyCounters:
    return ProxyCounters(bytes_in=_int(row, "bin"), bytes_out=_int(row, "bout"),
                         active_connections=_int(row, "scur"),
                         total_connections=_int(row, "stot"),
                         request_errors=_int(row, *errors))


def member_status(status: str | None) -> str:
    if status is None:
        return "ERROR"
    word = status.split(" ")[0].split("(")[0].upper()
    if word == "MAINT":
        return "OFFLINE"
    if status.lower() == "no check":
        return "NO_MONITOR"
    if word == "DRAIN":
        return "DRAINING"
    if word in ("UP", "NOLB"):
        return "ONLINE"
    return "ERROR"


def _sum(parts: list[ProxyCounters]) -> ProxyCounters:
    fields = ProxyCounters.model_fields
    return ProxyCounters(**{f: sum(getattr(p, f) for p in parts) for f in fields})


def pool_health(pool: Pool, rows: Rows, stats: bool) -> PoolHealth:
    names = sorted({px for px, _ in rows if px.rpartition(":")[0] == pool.id})
    members = []
    for member in pool.members:
        if not (pool.admin_state_up and member.admin_state_up):
            members.append(MemberHealth(id=member.id, operating_status="OFFLINE"))
            continue
        seen = [member_status(rows[(px, member.id)].get("status"))
                for px in names if (px, member.id) in rows]
        worst = min(seen, key=_RANK.index) if seen and stats else "ERROR"
        members.append(MemberHealth(id=member.id, operating_status=worst))
    enabled = [m.operating_status for m in members if m.operating_status != "OFFLINE"]
    if not pool.admin_state_up:
        status = "OFFLINE"
    elif enabled and all(s == "ERROR" for s in enabled):
        status = "ERROR"
    elif "ERROR" in enabled:
        status = "DEGRADED"
    else:
        status = "ONLINE"
    total = _sum([counters(rows[(px, "BACKEND")], ("econ", "eresp"))
                  for px in names if (px, "BACKEND") in rows])
    return PoolHealth(id=pool.id, operating_status=status, members=members, counters=total)


def health(lb: LoadBalancer, text: str | None) -> LoadBalancerHealth:
    rows = parse(text) if text is not None else {}
    listeners = []
    for listener in lb.listeners:
        row = rows.get((listener.id, "FRONTEND"))
        if not (lb.admin_state_up and listener.admin_state_up):
            status = "OFFLINE"
        elif row is not None and row.get("status") in ("OPEN", "FULL"):
            status = "ONLINE"
        else:
            status = "ERROR"
        listeners.append(ListenerHealth(
            id=listener.id, operating_status=status,
            counters=counters(row, ("ereq",)) if row else ProxyCounters()))
    pools = [pool_health(p, rows, text is not None) for p in lb.pools]
    enabled = [x.operating_status for x in listeners if x.operating_status != "OFFLINE"]
    if not lb.admin_state_up:
        status = "OFFLINE"
    elif enabled and all(s == "ERROR" for s in enabled):
        status = "ERROR"
    elif "ERROR" in enabled or any(p.operating_status in ("ERROR", "DEGRADED")
                                   for p in pools):
        status = "DEGRADED"
    else:
        status = "ONLINE"
    return LoadBalancerHealth(id=lb.id, operating_status=status, listeners=listeners,
                              pools=pools,
                              stats_epoch=epoch(text) if text is not None else None)
