"""Tables owned by the load-balancer service (prefix ``lb_``).

The relations (a listener's load balancer, a pool's members, the VIP port) are
our own columns, written only by this API. Unique keys make the conflicts Octavia
answers with 409 (a second listener on a port, a second member on an address and
port, a second monitor on a pool) fail cleanly when two writers race.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from astara.db.base import Base

UUID = String(36)
PROJECT = String(255)


class Stamped:
    """Columns every Octavia object has (an L7 rule has no name)."""

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    provisioning_status: Mapped[str] = mapped_column(String(16))
    operating_status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)


class Common(Stamped):
    """... and its name."""

    name: Mapped[str] = mapped_column(String(255), default="")


class LoadBalancer(Common, Base):
    __tablename__ = "lb_loadbalancers"

    description: Mapped[str] = mapped_column(String(255), default="")
    provider: Mapped[str] = mapped_column(String(64))
    vip_address: Mapped[str] = mapped_column(String(64))
    vip_port_id: Mapped[str] = mapped_column(UUID, index=True, unique=True)  # one LB per port
    vip_subnet_id: Mapped[str] = mapped_column(UUID)
    vip_network_id: Mapped[str] = mapped_column(UUID)
    # True when this service made the VIP port (it deletes it with the load balancer);
    # a port the user gave is left to them.
    vip_port_owned: Mapped[bool] = mapped_column(Boolean, default=True)
    # The revision of the intent under this load balancer: bumped by every write of it
    # or of a child, never by a status report; the orchestrator reports against it.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Failovers asked (``PUT .../failover``, migration l005): the orchestrator replaces
    # an appliance booted for fewer. Shown only in the orchestrator's model.
    failover_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Listener(Common, Base):
    __tablename__ = "lb_listeners"
    __table_args__ = (UniqueConstraint("loadbalancer_id", "protocol_port"),)

    description: Mapped[str] = mapped_column(String(255), default="")
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("lb_pools.id", ondelete="SET NULL"), nullable=True, index=True)
    insert_headers: Mapped[dict] = mapped_column(JSON, default=dict)
    timeout_client_data: Mapped[int] = mapped_column(Integer)
    timeout_member_connect: Mapped[int] = mapped_column(Integer)
    timeout_member_data: Mapped[int] = mapped_column(Integer)
    timeout_tcp_inspect: Mapped[int] = mapped_column(Integer)
    allowed_cidrs: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # TERMINATED_HTTPS (migration l006): references (``astara:pem:sha256:<hex>``) of
    # bundles in ``lb_listener_certificates``, never the bundles themselves.
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sni_container_refs: Mapped[list | None] = mapped_column(JSON, nullable=True)


class ListenerCertificate(Base):
    """A PEM bundle (certificate, intermediates, unencrypted key) a listener serves,
    named by its reference. Kept apart from the listener so that no view, list or
    notification can read it: only the orchestrator's model does. Its project is the
    listener's; gone with the listener."""

    __tablename__ = "lb_listener_certificates"

    listener_id: Mapped[str] = mapped_column(
        ForeignKey("lb_listeners.id", ondelete="CASCADE"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    pem: Mapped[str] = mapped_column(Text)


class Pool(Common, Base):
    __tablename__ = "lb_pools"

    description: Mapped[str] = mapped_column(String(255), default="")
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Member(Common, Base):
    __tablename__ = "lb_members"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port"),)

    pool_id: Mapped[str] = mapped_column(
        ForeignKey("lb_pools.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(UUID, nullable=True)
    monitor_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    monitor_port: Mapped[int | None] = mapped_column(Integer, nullable=True)


class HealthMonitor(Common, Base):
    __tablename__ = "lb_healthmonitors"

    pool_id: Mapped[str] = mapped_column(
        ForeignKey("lb_pools.id", ondelete="CASCADE"), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    max_retries_down: Mapped[int] = mapped_column(Integer)
    http_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    url_path: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    expected_codes: Mapped[str | None] = mapped_column(String(64), nullable=True)
    http_version: Mapped[str | None] = mapped_column(String(8), nullable=True)
    domain_name: Mapped[str | None] = mapped_column(String(255), nullable=True)


class L7Policy(Common, Base):
    """An L7 policy of an HTTP listener; ``position`` is 1..n among the listener's
    policies (kept dense by the API, under the load balancer's lock)."""

    __tablename__ = "lb_l7policies"

    description: Mapped[str] = mapped_column(String(255), default="")
    listener_id: Mapped[str] = mapped_column(
        ForeignKey("lb_listeners.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    # A pool of the same load balancer; deleting it is refused while a policy names it.
    redirect_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("lb_pools.id"), nullable=True, index=True)
    redirect_url: Mapped[str | None] = mapped_column(String(255), nullable=True)
    redirect_prefix: Mapped[str | None] = mapped_column(String(255), nullable=True)
    redirect_http_code: Mapped[int | None] = mapped_column(Integer, nullable=True)


class L7Rule(Stamped, Base):
    __tablename__ = "lb_l7rules"

    l7policy_id: Mapped[str] = mapped_column(
        ForeignKey("lb_l7policies.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    compare_type: Mapped[str] = mapped_column(String(32))
    key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)


class Quota(Base):
    """A project's limits an admin set; a null column is the configured default."""

    __tablename__ = "lb_quotas"

    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    loadbalancer: Mapped[int | None] = mapped_column(Integer, nullable=True)
    listener: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pool: Mapped[int | None] = mapped_column(Integer, nullable=True)
    member: Mapped[int | None] = mapped_column(Integer, nullable=True)
    healthmonitor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    l7policy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    l7rule: Mapped[int | None] = mapped_column(Integer, nullable=True)


class VipRelease(Base):
    """A VIP port this service made, of a load balancer deleted, still to be deleted.

    Written in the load balancer's delete transaction instead of deleting the port at
    once: while the old appliance may still answer on the address, the port keeps it
    from being given to anyone else. The orchestrator deletes it through
    ``DELETE /v2/astara/loadbalancers/{id}/vip_port`` once it has seen the appliance
    gone, and finds the ones left at start (``GET /v2/astara/vip_ports``), so a failed
    or interrupted deletion is retried, never forgotten."""

    __tablename__ = "lb_vip_releases"

    port_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    loadbalancer_id: Mapped[str] = mapped_column(UUID, index=True)
    project_id: Mapped[str] = mapped_column(PROJECT)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ListenerStats(Base):
    """haproxy's counters of one listener as the orchestrator reported them
    (``counters``: shown totals are ``base_* + *``). Gone with its listener."""

    __tablename__ = "lb_listener_stats"

    listener_id: Mapped[str] = mapped_column(
        ForeignKey("lb_listeners.id", ondelete="CASCADE"), primary_key=True)
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[str] = mapped_column(String(255), default="")
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    base_bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    base_bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    base_total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    base_request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
