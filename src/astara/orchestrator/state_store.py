"""Persisted plan memory per router (``orch_router_state``): nothing lost on restart.

A restarted worker loads a router's failed-boot count and error cooldown before
its first pass, so an ERROR is neither forgotten nor retried early. While a router
is healthy its row also holds what a restart resumes from (``Resume``: appliance
instance, management address, desired digest, ports), kept in the same JSON
column under ``"resume"``, so the first pass after a restart is one status call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, datetime

from sqlalchemy import delete, select

from astara.db.engine import Database
from astara.orchestrator.models import RouterStateRow
from astara.orchestrator.reconcile.memory import Resume, Saved
from astara.orchestrator.reconcile.model import Memory

RESUME = "resume"
_MEMORY_FIELDS = frozenset(f.name for f in fields(Memory))


def _resume(raw: object) -> Resume | None:
    if not isinstance(raw, dict):
        return None
    try:
        r = Resume(**{**raw, "wanted_ports": tuple(raw["wanted_ports"]),
                      "floating_ips": tuple(raw["floating_ips"])})
    except (TypeError, KeyError):
        return None  # written by another version: the first pass looks at everything
    return r if all(isinstance(v, str) for v in (r.instance_id, r.mgmt_address,
                                                 r.desired_digest)) else None


def _decode(row: RouterStateRow) -> Saved:
    data = row.memory or {}
    # (a tuple field comes back from JSON as a list)
    memory = Memory(**{k: tuple(v) if isinstance(v, list) else v
                       for k, v in data.items() if k in _MEMORY_FIELDS})
    return memory, row.status, _resume(data.get(RESUME))


def _encode(memory: Memory, resume: Resume | None) -> dict:
    data = asdict(memory)
    if resume is not None:
        data[RESUME] = resume._asdict()
    return data


class RouterStateStore:
    def __init__(self, db: Database):
        self._db = db

    def load(self, router_id: str) -> Saved | None:
        with self._db.read() as s:
            row = s.get(RouterStateRow, router_id)
            return None if row is None else _decode(row)

    def load_all(self, tenants: Callable[[str], bool] = lambda tenant: True
                 ) -> dict[str, Saved]:
        """Every router's row in one query (a worker starting after a restart), only
        those whose tenant ``tenants`` keeps (the worker's own shard)."""
        with self._db.read() as s:
            return {row.router_id: _decode(row) for row in s.scalars(select(RouterStateRow))
                    if tenants(row.tenant_id)}

    def floating_ips(self) -> dict[str, tuple[str, ...]]:
        """Router id -> the floating IPs its appliance was last pushed, of every row with
        a resume (a router left healthy) that holds some (the parent at start:
        ``LastPushed``)."""
        return {rid: resume.floating_ips for rid, (_, _, resume) in self.load_all().items()
                if resume is not None and resume.floating_ips}

    def save(self, router_id: str, tenant_id: str, memory: Memory, status: str | None,
             resume: Resume | None = None) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        data = _encode(memory, resume)
        with self._db.write() as s:
            row = s.get(RouterStateRow, router_id)
            if row is None:
                s.add(RouterStateRow(router_id=router_id, tenant_id=tenant_id,
                                     memory=data, status=status, updated_at=now))
            else:
                row.memory, row.status, row.updated_at = data, status, now

    def forget(self, router_id: str) -> None:
        with self._db.write() as s:
            s.execute(delete(RouterStateRow).where(RouterStateRow.router_id == router_id))
