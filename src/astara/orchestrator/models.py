"""Tables owned by the orchestrator (prefix ``orch_``).

``orch_debug`` holds the operators' debug switches (a router, a tenant, or the
global one), so they survive restarts; ``orch_router_state`` holds each router's
plan memory (failed boots, error cooldown, last error), so a restarted
orchestrator neither forgets an ERROR nor retries it early. In a cluster
(``[coordination] enabled``), ``orch_leases`` fences each resource to one member at a
time and ``orch_members`` holds each member's last heartbeat (``cluster``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from astara.db.base import Base


class DebugSwitch(Base):
    __tablename__ = "orch_debug"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # router|tenant|global
    target_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RouterStateRow(Base):
    __tablename__ = "orch_router_state"

    router_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(255), default="")
    memory: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class LeaseRow(Base):
    """Who may act on a resource, until when; ``epoch`` grows at each change of hands."""

    __tablename__ = "orch_leases"

    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch (UTC)


class MemberRow(Base):
    """A cluster member as it last wrote itself (once per heartbeat)."""

    __tablename__ = "orch_members"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))  # this run's lease owner token
    rpc_url: Mapped[str] = mapped_column(String(255), default="")
    heartbeat_at: Mapped[float] = mapped_column(Float)
    coordination: Mapped[str] = mapped_column(String(255), default="")  # "ok" or why not
