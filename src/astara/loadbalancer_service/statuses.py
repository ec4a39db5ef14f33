"""The orchestrator's status report for one load balancer, parsed and checked (pure).

``PUT /v2/astara/loadbalancers/{id}/statuses`` carries the ``revision`` of the model
the orchestrator built and, per object, the statuses it observed. ``parse`` turns the
JSON into a ``StatusReport`` or raises the 400 Octavia would answer; ``writes`` decides
which columns each object gets: every operating status, and the provisioning statuses
only when the report is of the current revision (otherwise newer intent is pending and
the objects stay ``PENDING_*``). A listener may carry haproxy's ``stats`` (the
five counters, ``counters``) with ``stats_epoch`` beside ``revision``; they are kept
whatever the revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from astara.loadbalancer_service import counters, errors

PROVISIONING = ("ACTIVE", "ERROR")
OPERATING = ("ONLINE", "OFFLINE", "DEGRADED", "ERROR", "NO_MONITOR", "DRAINING")
CHILDREN = ("listeners", "pools", "members", "healthmonitors", "l7policies", "l7rules")
MAX_ITEMS = 10_000  # per kind; the body is bounded to 1 MiB before this anyway
MAX_ID = 64
MAX_REVISION = 2**63 - 1


@dataclass(frozen=True)
class Report:
    """The statuses of one object (None: not reported)."""

    id: str
    provisioning_status: str | None = None
    operating_status: str | None = None
    stats: counters.Counters | None = None  # a listener's haproxy counters


@dataclass(frozen=True)
class StatusReport:
    revision: int
    loadbalancer: Report | None
    children: dict[str, tuple[Report, ...]]  # by plural, each id once
    stats_epoch: str = ""  # the haproxy run the listeners' ``stats`` come from


def _bad(attr: str, value: Any, reason: str) -> errors.BadRequest:
    return errors.invalid_input(attr, value, reason)


def _statuses(attr: str, item: Any, with_id: bool) -> Report:
    if not isinstance(item, dict):
        raise _bad(attr, item, "Wrong type. Expected 'dict', got "
                               f"'{type(item).__name__}'")
    allowed = {"provisioning_status", "operating_status"} | ({"id"} if with_id else set()) \
        | ({"stats"} if attr == "listeners" else set())
    for key in item:
        if key not in allowed:
            raise errors.unknown_attribute(attr, str(key))
    id_ = item.get("id", "")
    if with_id and (not isinstance(id_, str) or not 0 < len(id_) <= MAX_ID):
        raise _bad(f"{attr}.id", id_, "Mandatory field missing or not an id.")
    prov, oper = item.get("provisioning_status"), item.get("operating_status")
    if prov is not None and prov not in PROVISIONING:
        raise _bad(f"{attr}.provisioning_status", prov,
                   f"Value should be one of: {', '.join(PROVISIONING)}")
    if oper is not None and oper not in OPERATING:
        raise _bad(f"{attr}.operating_status", oper,
                   f"Value should be one of: {', '.join(OPERATING)}")
    stats = counters.parse(f"{attr}.stats", item["stats"]) \
        if item.get("stats") is not None else None
    return Report(id_, prov, oper, stats)


def parse(body: Any) -> StatusReport:
    """A status report body, or the 400 it deserves."""
    if not isinstance(body, dict):
        raise _bad("statuses", body, "Wrong type. Expected 'dict', got "
                                     f"'{type(body).__name__}'")
    for key in body:
        if key not in ("revision", "loadbalancer", "stats_epoch", *CHILDREN):
            raise errors.unknown_attribute("statuses", str(key))
    revision = body.get("revision")
    if isinstance(revision, bool) or not isinstance(revision, int) \
            or not 1 <= revision <= MAX_REVISION:
        raise _bad("revision", revision, "Mandatory field missing or not an integer of 1 "
                                         "or more.")
    lb = body.get("loadbalancer")
    report = _statuses("loadbalancer", lb, False) if lb is not None else None
    children: dict[str, tuple[Report, ...]] = {}
    for plural in CHILDREN:
        items = body.get(plural)
        items = [] if items is None else items
        if not isinstance(items, list):
            raise _bad(plural, items, "Wrong type. Expected 'list', got "
                                      f"'{type(items).__name__}'")
        if len(items) > MAX_ITEMS:
            raise _bad(plural, f"{len(items)} items", f"At most {MAX_ITEMS} may be given.")
        parsed = [_statuses(plural, item, True) for item in items]
        if len({r.id for r in parsed}) != len(parsed):
            raise errors.validation(f"An id is given more than once in {plural}.")
        children[plural] = tuple(parsed)
    return StatusReport(revision, report, children,
                        counters.parse_epoch(body.get("stats_epoch")))


def writes(report: Report, current: bool) -> dict[str, str]:
    """The columns to set on one object: its operating status always, its provisioning
    status only if the report is of the ``current`` revision."""
    out = {}
    if report.operating_status is not None:
        out["operating_status"] = report.operating_status
    if current and report.provisioning_status is not None:
        out["provisioning_status"] = report.provisioning_status
    return out
