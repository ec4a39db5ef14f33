"""Debug mode: routers, tenants or everything left alone by the orchestrator.

Switches live in ``orch_debug`` so they survive restarts; workers keep a cached
``DebugSnapshot`` (reloaded when the parent says a switch changed, and at start)
and consult it before any step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select

from astara.db.engine import Database
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.models import DebugSwitch

GLOBAL = "*"


@dataclass(frozen=True)
class DebugSnapshot:
    routers: dict[str, str] = field(default_factory=dict)  # id -> reason
    tenants: dict[str, str] = field(default_factory=dict)
    global_reason: str | None = None

    def is_debug(self, ref: ResourceRef) -> bool:
        return (self.global_reason is not None or ref.id in self.routers
                or ref.tenant_id in self.tenants)


class DebugStore:
    def __init__(self, db: Database):
        self._db = db

    def set(self, kind: str, target_id: str, reason: str = "") -> None:
        with self._db.write() as s:
            row = s.get(DebugSwitch, (kind, target_id))
            if row is None:
                s.add(DebugSwitch(kind=kind, target_id=target_id, reason=reason[:255],
                                  created_at=datetime.now(UTC).replace(tzinfo=None)))
            else:
                row.reason = reason[:255]

    def clear(self, kind: str, target_id: str) -> None:
        with self._db.write() as s:
            s.execute(delete(DebugSwitch).where(DebugSwitch.kind == kind,
                                                DebugSwitch.target_id == target_id))

    def snapshot(self) -> DebugSnapshot:
        with self._db.read() as s:
            rows = [(r.kind, r.target_id, r.reason) for r in s.scalars(select(DebugSwitch))]
        routers = {target: reason for kind, target, reason in rows if kind == "router"}
        tenants = {target: reason for kind, target, reason in rows if kind == "tenant"}
        glob = next((reason for kind, _, reason in rows if kind == "global"), None)
        return DebugSnapshot(routers, tenants, glob)
