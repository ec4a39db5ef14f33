"""The `loadbalancer` section of the appliance config document.

Built by the orchestrator's loadbalancer driver from the load-balancer API's records
and rendered by the appliance agent into one haproxy configuration. It carries only
what the appliance serves: objects whose admin state is down are still listed (the
agent renders them disabled, so their status can be reported), and protocols that
haproxy cannot serve (UDP, SCTP: not yet) never reach it; the driver marks those
objects ERROR instead.
Timeouts are in milliseconds, as the API gives them.

A TERMINATED_HTTPS listener names its certificates by reference
(``astara:pem:sha256:<hex>``); the section's ``certificates`` hold each bundle once
(certificate, intermediates, unencrypted key). The key material travels only in this
document, over the authenticated management channel: it is left out of the models'
repr and of validation errors (``hide_input_in_errors``), and ``redacted`` gives the
document as debug views may show it.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Octavia's ids are UUIDs; anything rendered into haproxy's configuration must stay a
# plain token (no spaces, quotes or newlines), whatever a future caller sends.
ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Millis = Annotated[int, Field(ge=0, le=24 * 3600 * 1000)]
# Header, cookie and path values end up inside haproxy ACLs: printable, no quotes, bounded.
Token = Annotated[str, Field(min_length=1, max_length=255, pattern=r'^[\x21-\x7e]+$')]
Text = Annotated[str, Field(max_length=2048, pattern=r'^[\x20-\x7e]*$')]
# A cookie or header name haproxy takes as is.
HeaderName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")]
MAX_MEMBERS, MAX_LISTENERS, MAX_POOLS = 1000, 100, 500
MAX_CERTIFICATES = 200
COOKIE_PERSISTENCE = ("HTTP_COOKIE", "APP_COOKIE")
CertRef = Annotated[str, Field(pattern=r"^astara:pem:sha256:[0-9a-f]{64}$")]
# PEM text (the API takes at most 64 KiB a bundle; re-encoded it stays well within).
Pem = Annotated[str, Field(min_length=1, max_length=128 * 1024,
                           pattern=r"^-----BEGIN [\x20-\x7e\r\n]+-----\r?\n?$")]
REDACTED = "<redacted>"

ListenerProtocol = Literal["HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS"]
HTTP_PROTOCOLS = frozenset({"HTTP", "TERMINATED_HTTPS"})  # haproxy's mode http
PoolProtocol = Literal["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2"]
Algorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]
MonitorType = Literal["HTTP", "HTTPS", "TCP", "PING", "TLS-HELLO"]
# The pools a listener may send to, as Octavia allows them: an HTTP frontend needs a
# backend that speaks HTTP (PROXY adds the PROXY protocol header in front of it).
POOLS_FOR: dict[str, frozenset[str]] = {
    "HTTP": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "HTTPS": frozenset({"HTTPS", "TCP", "PROXY", "PROXYV2"}),
    "TCP": frozenset({"TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2"}),
    "TERMINATED_HTTPS": frozenset({"HTTP", "PROXY", "PROXYV2"}),
}


class _Model(BaseModel):
    # An error never quotes its input: the section may hold private keys.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Certificate(_Model):
    """A PEM bundle haproxy serves: certificate, intermediates, unencrypted key."""

    ref: CertRef
    pem: Pem = Field(repr=False)


class SessionPersistence(_Model):
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    cookie_name: HeaderName | None = None

    @model_validator(mode="after")
    def _check(self) -> SessionPersistence:
        if self.type == "APP_COOKIE" and not self.cookie_name:
            raise ValueError("APP_COOKIE persistence needs a cookie_name")
        return self


class HealthMonitor(_Model):
    id: ObjectId
    type: MonitorType
    delay: int = Field(ge=1, le=86400)  # seconds, as Octavia's
    timeout: int = Field(ge=1, le=86400)
    max_retries: int = Field(ge=1, le=10)
    max_retries_down: int = Field(default=3, ge=1, le=10)
    http_method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS",
                         "CONNECT", "PATCH"] = "GET"
    url_path: Token = "/"
    expected_codes: Annotated[str, Field(pattern=r"^\d{3}([-,]\d{3})*$")] = "200"
    http_version: Literal["1.0", "1.1"] | None = None
    domain_name: Annotated[str, Field(max_length=255,
                                      pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*)$")] | None = None
    admin_state_up: bool = True

    @model_validator(mode="after")
    def _check(self) -> HealthMonitor:
        for part in self.expected_codes.split(","):
            low, _, high = part.partition("-")
            if not 100 <= int(low) <= int(high or low) <= 599:
                raise ValueError(f"expected_codes {self.expected_codes}: {part} is no range "
                                 "of HTTP codes")
        return self


class Member(_Model):
    id: ObjectId
    address: IPAddress
    protocol_port: Port
    weight: int = Field(default=1, ge=0, le=256)
    admin_state_up: bool = True
    backup: bool = False
    monitor_address: IPAddress | None = None
    monitor_port: Port | None = None


class Pool(_Model):
    id: ObjectId
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    session_persistence: SessionPersistence | None = None
    admin_state_up: bool = True
    members: tuple[Member, ...] = Field(default=(), max_length=MAX_MEMBERS)
    healthmonitor: HealthMonitor | None = None

    @model_validator(mode="after")
    def _check(self) -> Pool:
        unique(f"member of pool {self.id}",
                [(m.address, m.protocol_port) for m in self.members])
        unique(f"member id of pool {self.id}", [m.id for m in self.members])
        return self


class L7Rule(_Model):
    id: ObjectId
    type: Literal["PATH", "HOST_NAME", "HEADER", "COOKIE", "FILE_TYPE"]
    compare_type: Literal["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"]
    key: HeaderName | None = None  # the header or cookie name
    value: Token
    invert: bool = False
    admin_state_up: bool = True

    @model_validator(mode="after")
    def _check(self) -> L7Rule:
        if self.type in ("HEADER", "COOKIE") and not self.key:
            raise ValueError(f"a {self.type} rule needs a key")
        return self


class L7Policy(_Model):
    id: ObjectId
    action: Literal["REDIRECT_TO_URL", "REDIRECT_PREFIX", "REDIRECT_TO_POOL", "REJECT"]
    position: int = Field(ge=1, le=2**31 - 1)
    redirect_url: Token | None = None
    redirect_prefix: Token | None = None
    redirect_pool_id: ObjectId | None = None
    redirect_http_code: Literal[301, 302, 303, 307, 308] = 302
    admin_state_up: bool = True
    rules: tuple[L7Rule, ...] = Field(default=(), max_length=50)

    @model_validator(mode="after")
    def _check(self) -> L7Policy:
        needed = {"REDIRECT_TO_URL": self.redirect_url, "REDIRECT_PREFIX": self.redirect_prefix,
                  "REDIRECT_TO_POOL": self.redirect_pool_id}
        if self.action in needed and not needed[self.action]:
            raise ValueError(f"{self.action} policy {self.id} names no target")
        return self


class Listener(_Model):
    id: ObjectId
    protocol: ListenerProtocol
    protocol_port: Port
    admin_state_up: bool = True
    connection_limit: int | None = Field(default=None, ge=1, le=1_000_000)  # None: unlimited
    default_pool_id: ObjectId | None = None
    timeout_client_data: Millis = 50000
    timeout_member_connect: Millis = 5000
    timeout_member_data: Millis = 50000
    timeout_tcp_inspect: Millis = 0
    # None or empty: every source may connect (Octavia's default).
    allowed_cidrs: tuple[IPNetwork, ...] = Field(default=(), max_length=100)
    l7policies: tuple[L7Policy, ...] = Field(default=(), max_length=100)
    # TERMINATED_HTTPS: the default certificate (else the first SNI one) and the others,
    # chosen by SNI; references into the section's `certificates`.
    default_tls_container_ref: CertRef | None = None
    sni_container_refs: tuple[CertRef, ...] = Field(default=(), max_length=100)

    @model_validator(mode="after")
    def _check(self) -> Listener:
        if self.l7policies and self.protocol not in HTTP_PROTOCOLS:
            raise ValueError(f"listener {self.id}: L7 policies need an HTTP listener")
        if self.protocol == "TERMINATED_HTTPS" and not self.certificate_refs():
            raise ValueError(f"listener {self.id}: TERMINATED_HTTPS needs a certificate")
        if self.protocol != "TERMINATED_HTTPS" and self.certificate_refs():
            raise ValueError(f"listener {self.id}: only TERMINATED_HTTPS takes certificates")
        unique(f"l7policy position of listener {self.id}", [p.position for p in self.l7policies])
        return self

    def certificate_refs(self) -> list[str]:
        """The default first, each once."""
        return list(dict.fromkeys(filter(None, [self.default_tls_container_ref,
                                                *self.sni_container_refs])))


class LoadBalancer(_Model):
    """One load balancer: its VIP (an address of one of the document's networks) and
    everything served on it."""

    id: ObjectId
    vip_address: IPAddress
    admin_state_up: bool = True
    listeners: tuple[Listener, ...] = Field(default=(), max_length=MAX_LISTENERS)
    pools: tuple[Pool, ...] = Field(default=(), max_length=MAX_POOLS)
    certificates: tuple[Certificate, ...] = Field(default=(), max_length=MAX_CERTIFICATES)

    @model_validator(mode="after")
    def _check(self) -> LoadBalancer:
        unique("certificate", [c.ref for c in self.certificates])
        refs = {c.ref for c in self.certificates}
        for listener in self.listeners:
            for ref in listener.certificate_refs():
                if ref not in refs:
                    raise ValueError(f"listener {listener.id} names unknown certificate {ref}")
        unique("listener port", [x.protocol_port for x in self.listeners])
        unique("listener id", [x.id for x in self.listeners])
        unique("pool id", [p.id for p in self.pools])
        pools = {p.id: p for p in self.pools}
        for listener in self.listeners:
            targets = [listener.default_pool_id] + [
                p.redirect_pool_id for p in listener.l7policies]
            for pool_id in filter(None, targets):
                if pool_id not in pools:
                    raise ValueError(f"listener {listener.id} names unknown pool {pool_id}")
                if pools[pool_id].protocol not in POOLS_FOR[listener.protocol]:
                    raise ValueError(f"listener {listener.id} ({listener.protocol}) cannot "
                                     f"use pool {pool_id} ({pools[pool_id].protocol})")
                if not cookie_persistence_fits(listener.protocol, pools[pool_id]):
                    raise ValueError(f"pool {pool_id}: cookie persistence needs an HTTP "
                                     f"listener, not {listener.protocol}")
        return self


def cookie_persistence_fits(listener_protocol: str, pool: Pool) -> bool:
    """Cookies are HTTP: a pool persisting by cookie serves HTTP listeners only."""
    sp = pool.session_persistence
    return sp is None or sp.type not in COOKIE_PERSISTENCE or listener_protocol in HTTP_PROTOCOLS


def redacted(section: dict) -> dict:
    """A dumped section as a debug view shows it: each certificate's PEM replaced."""
    certs = section.get("certificates")
    if not certs:
        return section
    return {**section, "certificates": [{**c, "pem": REDACTED} if isinstance(c, dict) else c
                                        for c in certs]}


def unique(what: str, values: list[object]) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value}")
        seen.add(value)
