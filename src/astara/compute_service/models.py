"""Tables owned by the compute service (prefix ``compute_``).

``Instance`` holds intent written by the API (name, metadata, ports asked for) and
state written only by the dispatcher (vm/task/power state, ``seq`` of the last applied
event, fault). ``Job`` is the durable work list of each host's agent; ``Host`` records
agents with capacity, a drained flag, the tunnel address other hosts reach its
networks' VXLAN devices at and the management address a holder claimed (unique);
``NetworkVni`` gives each tunnelled network its VNI (the agents allocate it, unique);
``ServerGroup`` and ``ServerGroupMember`` are Nova's server groups and who was booted
into them; ``QuotaUsage`` is the per-project counter
that create reserves under a row lock; ``DeadLetter`` keeps events the dispatcher
could not parse.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from astara.db.base import Base

UUID = String(36)
BIGID = BigInteger().with_variant(Integer, "sqlite")


class Host(Base):
    __tablename__ = "compute_hosts"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    drained: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # [compute_service] tunnel_address of its agent (None: its networks stay on it)
    tunnel_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the management address a holder (management_address_host) claimed, canonical, no
    # prefix length; unique: two hosts never hold one (None: not a holder)
    management_address: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                           unique=True)


class NetworkVni(Base):
    __tablename__ = "compute_network_vnis"

    network_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    vni: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


LIVE_USAGE_INDEX = "ix_compute_instances_live_usage"
NAME_INDEX = "ix_compute_instances_name_project"


class Instance(Base):
    __tablename__ = "compute_instances"
    __table_args__ = (
        UniqueConstraint("project_id", "client_request_id"),
        # placement's count of each host's live instances and the project's among them,
        # at every create, from this index alone (not the rows, with their ports and
        # console, one by one): migration p001
        Index(LIVE_USAGE_INDEX, "deleted", "host", "project_id"),
        # an instance found by exact name in its project (the orchestrator's look for a
        # router's appliance, all of them the service project's): migration p002
        Index(NAME_INDEX, "name", "project_id"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    host: Mapped[str] = mapped_column(String(255), index=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    flavor_id: Mapped[str] = mapped_column(String(255))
    image_id: Mapped[str] = mapped_column(String(255))
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # the create's Idempotency-Key (the column's name predates it); cleared on delete
    idempotency_key: Mapped[str | None] = mapped_column("client_request_id", String(255),
                                                         nullable=True)
    reservation_id: Mapped[str] = mapped_column(String(32), default="")
    ports: Mapped[list] = mapped_column(JSON, default=list)
    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    fault: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    console: Mapped[str] = mapped_column(Text, default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    launched_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ServerGroup(Base):
    """Nova's server group: a placement policy for its members (``api.server_groups``)."""

    __tablename__ = "compute_server_groups"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(32))
    # anti-affinity's ``rules.max_server_per_host`` (2.64); None: 1
    max_server_per_host: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ServerGroupMember(Base):
    """An instance booted into a group (at most one group each, as in Nova)."""

    __tablename__ = "compute_server_group_members"

    instance_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    group_id: Mapped[str] = mapped_column(UUID, index=True)


class Job(Base):
    __tablename__ = "compute_jobs"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(UUID, index=True)
    host: Mapped[str] = mapped_column(String(255), index=True)
    op: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    log: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class QuotaUsage(Base):
    __tablename__ = "compute_quota_usages"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    instances: Mapped[int] = mapped_column(Integer, default=0)


class DeadLetter(Base):
    __tablename__ = "compute_dead_letters"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    position: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
