"""Where a router's ready time goes: milestones read from what the stack records.

Used by ``orchestrator_e2e.py``. For one router it collects, as wall-clock times:
the bench's own API calls and first forwarded ping; the outbox row of the router's
first notification (``bus_outbox.created_at``); the orchestrator's log (``intake:
<event> -> router <id>`` and ``router <id>: <Step> (...) -> <status> in <n> ms``);
the appliance instance's outbox rows (the compute agent's create.start and create.end,
the dispatcher's announcement); the appliance agent's ``serving appliance namespace
astara-appliance-<instance>`` line; when the host behind the router had a route (its
ping stopped failing at once: its DHCP lease from the router's dnsmasq).
``breakdown`` turns several routers' milestones into p50 phase lengths.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
_STEP = re.compile(_STAMP + r" .*router (\S+): (\w+) \(.*\) -> \w+ in (\d+) ms$")
_INTAKE = re.compile(_STAMP + r" .*intake: (\S+) -> router (\S+)$")
_SERVING = re.compile(_STAMP + r" .*serving appliance namespace astara-appliance-(\S+) on")

# (milestone, phase that ends there), in the order a router goes through them.
PHASES = [
    ("committed", "API call -> router.create.end committed to the outbox"),
    ("intake", "outbox -> orchestrator intake"),
    ("create", "queue + observe -> CreateVM decided"),
    ("claimed", "boot call -> compute agent takes the job (create.start)"),
    ("launched", "compute agent: namespace + ports ready (create.end)"),
    ("announced", "dispatcher: instance ACTIVE announced (notifications.info)"),
    ("served", "appliance agent sees the namespace"),
    ("answered", "orchestrator sees the appliance answer (CheckBoot wait)"),
    ("pushed", "first config push (PUT: dnsmasq/nft apply)"),
    ("settled", "later passes (replug, interface, pushes)"),
    ("leased", "host gets its DHCP lease (port ACTIVE -> vif-plugged -> dhclient)"),
    ("forwarded", "host's first packet forwarded (ARP, SNAT)"),
]


def _log_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local, as logged


def _utc_time(value: str) -> float:
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


@dataclass
class Sample:
    router_id: str
    t0: float
    api_done: float
    forwarded: float
    instance_id: str | None = None
    launched_at: str | None = None  # the compute API's OS-SRV-USG:launched_at (UTC)
    at: dict[str, float] = field(default_factory=dict)


def first_commit(db: Path, about: str, topic: str = "notifications.info",
                 event_type: str = "%") -> float | None:
    """When the first outbox row on ``topic`` mentioning ``about`` was written."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT created_at FROM bus_outbox WHERE topic = ? AND body LIKE ?"
                          " AND event_type LIKE ? ORDER BY id LIMIT 1",
                          (topic, f"%{about}%", event_type)).fetchone()
    finally:
        con.close()
    return _utc_time(row[0]) if row else None


def collect(s: Sample, db: Path, orchestrator_log: str, appliance_log: str) -> Sample:
    at: dict[str, float] = dict(s.at)  # what the bench saw itself (the host's lease)
    commit = first_commit(db, s.router_id)
    if commit is not None:
        at["committed"] = commit
    for line in orchestrator_log.splitlines():
        if (m := _INTAKE.search(line)) and m[3] == s.router_id:
            at.setdefault("intake", _log_time(m[1]))
        elif (m := _STEP.search(line)) and m[2] == s.router_id:
            end, step = _log_time(m[1]), m[3]
            begun = end - int(m[4]) / 1000
            if step == "CreateVM":
                at.setdefault("create", begun)
            elif step in ("ConfigureVM", "ReplugVM", "Alive") and "create" in at:
                at.setdefault("answered", begun)
                if step == "ConfigureVM":
                    at.setdefault("pushed", end)
                    if end <= s.forwarded:
                        at["settled"] = end
    if s.instance_id:
        for name, topic, event in (
                ("claimed", "compute.events", "compute.instance.create.start"),
                ("launched", "compute.events", "compute.instance.create.end"),
                ("announced", "notifications.info", "compute.instance.create.end")):
            if (t := first_commit(db, s.instance_id, topic, event)) is not None:
                at[name] = t
    elif s.launched_at:
        at["launched"] = _utc_time(s.launched_at)
    if s.instance_id:
        for line in appliance_log.splitlines():
            if (m := _SERVING.search(line)) and m[2] == s.instance_id:
                at["served"] = _log_time(m[1])
                break
    at["forwarded"] = s.forwarded
    s.at = at
    return s


def breakdown(samples: list[Sample]) -> list[str]:
    """One line per phase: p50 length (ms) and p50 time since the first API call."""
    lines = [f"  {'API calls (router, interface, gateway)':58s} "
             f"p50 {statistics.median(s.api_done - s.t0 for s in samples) * 1000:6.0f} ms"]
    for i, (name, label) in enumerate(PHASES):
        spans, offsets = [], []
        for s in samples:
            if name not in s.at:
                continue
            offsets.append(s.at[name] - s.t0)
            # From the latest earlier milestone seen for this router (or the first call).
            start = next((s.at[p] for p, _ in reversed(PHASES[:i]) if p in s.at), s.t0)
            spans.append(s.at[name] - start)
        if spans:
            lines.append(f"  {label:58s} p50 {statistics.median(spans) * 1000:6.0f} ms"
                         f"  (at +{statistics.median(offsets) * 1000:.0f} ms,"
                         f" {len(spans)} routers)")
        else:
            lines.append(f"  {label:58s} not seen")
    return lines + slowest(samples)


def slowest(samples: list[Sample]) -> list[str]:
    """The slowest router's own phases: a p99 is one router, and p50s hide where it
    waited."""
    if len(samples) < 2:
        return []
    s = max(samples, key=lambda s: s.forwarded - s.t0)
    spans, last = [f"API calls {(s.api_done - s.t0) * 1000:.0f}"], s.t0
    for name, _ in PHASES:
        if name in s.at:
            spans.append(f"{name} {(s.at[name] - last) * 1000:.0f}")
            last = s.at[name]
    return [f"  slowest router ({s.router_id}, {s.forwarded - s.t0:.2f} s), ms per phase: "
            + "; ".join(spans)]
