"""Persisted plan memory per router (``orch_router_state``): nothing lost on restart.

A restarted worker loads a router's failed-boot count and error cooldown before
its first pass, so an ERROR is neither forgotten nor retried early.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import delete

from astara.db.engine import Database
from astara.orchestrator.models import RouterStateRow
from astara.orchestrator.reconcile.model import Memory


class RouterStateStore:
    def __init__(self, db: Database):
        self._db = db

    def load(self, router_id: str) -> tuple[Memory, str | None] | None:
        with self._db.read() as s:
            row = s.get(RouterStateRow, router_id)
            if row is None:
                return None
            return Memory(**row.memory), row.status

    def save(self, router_id: str, tenant_id: str, memory: Memory, status: str | None) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._db.write() as s:
            row = s.get(RouterStateRow, router_id)
            if row is None:
                s.add(RouterStateRow(router_id=router_id, tenant_id=tenant_id,
                                     memory=asdict(memory), status=status, updated_at=now))
            else:
                row.memory, row.status, row.updated_at = asdict(memory), status, now

    def forget(self, router_id: str) -> None:
        with self._db.write() as s:
            s.execute(delete(RouterStateRow).where(RouterStateRow.router_id == router_id))
