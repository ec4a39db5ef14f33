"""Rows to the dicts Octavia v2 returns (the same views feed notification payloads).

A view needs the row and the ids of its relations (``Related``), read by the
service in one pass, so building a view does no query of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources import listener_tls


def ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value is not None else None


@dataclass
class Related:
    """Ids of the relations views show, by owner id."""

    listeners: dict[str, list[str]] = field(default_factory=dict)  # lb -> listeners
    pools: dict[str, list[str]] = field(default_factory=dict)  # lb -> pools
    pool_listeners: dict[str, list[str]] = field(default_factory=dict)  # pool -> listeners
    members: dict[str, list[str]] = field(default_factory=dict)  # pool -> members
    monitor: dict[str, str] = field(default_factory=dict)  # pool -> health monitor
    l7policies: dict[str, list[str]] = field(default_factory=dict)  # listener -> by position
    rules: dict[str, list[str]] = field(default_factory=dict)  # l7 policy -> rules


def _common(row) -> dict:
    return {
        "id": row.id,
        "name": getattr(row, "name", None),
        "provisioning_status": row.provisioning_status,
        "operating_status": row.operating_status,
        "admin_state_up": row.admin_state_up,
        "project_id": row.project_id,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "tags": sorted(row.tags or []),
        "tenant_id": row.project_id,
    }


def _ids(ids: list[str]) -> list[dict]:
    return [{"id": i} for i in ids]


def loadbalancer(row: m.LoadBalancer, rel: Related) -> dict:
    out = _common(row)
    out.update({
        "description": row.description,
        "vip_address": row.vip_address,
        "vip_port_id": row.vip_port_id,
        "vip_subnet_id": row.vip_subnet_id,
        "vip_network_id": row.vip_network_id,
        "vip_sg_ids": [],
        "additional_vips": [],
        "listeners": _ids(rel.listeners.get(row.id, [])),
        "pools": _ids(rel.pools.get(row.id, [])),
        "provider": row.provider,
        "flavor_id": None,
        "vip_qos_policy_id": None,
        "availability_zone": None,
        "vip_vnic_type": "normal",
    })
    return out


def listener(row: m.Listener, rel: Related) -> dict:
    out = _common(row)
    out.update({
        "description": row.description,
        "protocol": row.protocol,
        "protocol_port": row.protocol_port,
        "connection_limit": row.connection_limit,
        # References only (astara:pem:sha256:...): the bundles are never in a view.
        "default_tls_container_ref": row.default_tls_container_ref,
        "sni_container_refs": list(row.sni_container_refs or []),
        "default_pool_id": row.default_pool_id,
        "l7policies": _ids(rel.l7policies.get(row.id, [])),
        "insert_headers": dict(row.insert_headers or {}),
        "loadbalancers": [{"id": row.loadbalancer_id}],
        "timeout_client_data": row.timeout_client_data,
        "timeout_member_connect": row.timeout_member_connect,
        "timeout_member_data": row.timeout_member_data,
        "timeout_tcp_inspect": row.timeout_tcp_inspect,
        "client_ca_tls_container_ref": None,
        "client_authentication": "NONE",
        "client_crl_container_ref": None,
        "allowed_cidrs": list(row.allowed_cidrs) if row.allowed_cidrs else None,
        **_tls_options(row.protocol),
        "hsts_max_age": None,
        "hsts_include_subdomains": False,
        "hsts_preload": False,
    })
    return out


def _tls_options(protocol: str) -> dict:
    """Octavia's defaults on a TERMINATED_HTTPS listener (the only values taken)."""
    if protocol != listener_tls.PROTOCOL:
        return {"tls_ciphers": None, "tls_versions": None, "alpn_protocols": None}
    return {"tls_ciphers": listener_tls.TLS_CIPHERS,
            "tls_versions": list(listener_tls.TLS_VERSIONS),
            "alpn_protocols": list(listener_tls.ALPN_PROTOCOLS)}


def pool(row: m.Pool, rel: Related) -> dict:
    out = _common(row)
    monitor = rel.monitor.get(row.id)
    out.update({
        "description": row.description,
        "protocol": row.protocol,
        "lb_algorithm": row.lb_algorithm,
        "session_persistence": dict(row.session_persistence) if row.session_persistence
        else None,
        "loadbalancers": [{"id": row.loadbalancer_id}],
        "listeners": _ids(rel.pool_listeners.get(row.id, [])),
        "members": _ids(rel.members.get(row.id, [])),
        "tls_container_ref": None,
        "ca_tls_container_ref": None,
        "crl_container_ref": None,
        "tls_enabled": False,
        "tls_ciphers": None,
        "tls_versions": None,
        "alpn_protocols": None,
    })
    if monitor is not None:  # Octavia shows the key only when there is a monitor
        out["healthmonitor_id"] = monitor
    return out


def member(row: m.Member, rel: Related) -> dict:
    out = _common(row)
    out.update({
        "address": row.address,
        "protocol_port": row.protocol_port,
        "weight": row.weight,
        "backup": row.backup,
        "subnet_id": row.subnet_id,
        "monitor_address": row.monitor_address,
        "monitor_port": row.monitor_port,
        "vnic_type": "normal",
    })
    return out


def healthmonitor(row: m.HealthMonitor, rel: Related) -> dict:
    out = _common(row)
    out.update({
        "type": row.type,
        "delay": row.delay,
        "timeout": row.timeout,
        "max_retries": row.max_retries,
        "max_retries_down": row.max_retries_down,
        "http_method": row.http_method,
        "url_path": row.url_path,
        "expected_codes": row.expected_codes,
        "pools": [{"id": row.pool_id}],
        "http_version": float(row.http_version) if row.http_version else None,
        "domain_name": row.domain_name,
    })
    return out


def l7policy(row: m.L7Policy, rel: Related) -> dict:
    out = _common(row)
    out.update({
        "description": row.description,
        "action": row.action,
        "listener_id": row.listener_id,
        "redirect_pool_id": row.redirect_pool_id,
        "redirect_url": row.redirect_url,
        "redirect_prefix": row.redirect_prefix,
        "position": row.position,
        "rules": _ids(rel.rules.get(row.id, [])),
        "redirect_http_code": row.redirect_http_code,
    })
    return out


def l7rule(row: m.L7Rule, rel: Related) -> dict:
    out = _common(row)
    del out["name"]  # Octavia's rules have none
    out.update({
        "type": row.type,
        "compare_type": row.compare_type,
        "key": row.key,
        "value": row.value,
        "invert": row.invert,
    })
    return out


VIEWS = {"loadbalancers": loadbalancer, "listeners": listener, "pools": pool,
         "members": member, "healthmonitors": healthmonitor, "l7policies": l7policy,
         "rules": l7rule}
MODELS = {"loadbalancers": m.LoadBalancer, "listeners": m.Listener, "pools": m.Pool,
          "members": m.Member, "healthmonitors": m.HealthMonitor, "l7policies": m.L7Policy,
          "rules": m.L7Rule}


def _keys(plural: str) -> set[str]:
    """The keys a view shows (what Octavia lets a list filter and sort by)."""
    model = MODELS[plural]
    row = model(id="", project_id="", admin_state_up=True, provisioning_status="",
                operating_status="", created_at=None, updated_at=None, tags=[])
    for column in model.__table__.columns:
        if getattr(row, column.key, None) is None and column.key not in (
                "created_at", "updated_at"):
            setattr(row, column.key, 0 if column.type.python_type is int else "")
    return set(VIEWS[plural](row, Related()))


# Relations a list filters by that the views show only as lists of ids.
SQL_ONLY = {"listeners": {"loadbalancer_id"}, "pools": {"loadbalancer_id"},
            "healthmonitors": {"pool_id"}, "members": set(), "loadbalancers": set(),
            "l7policies": set(), "rules": {"l7policy_id"}}
FILTERABLE = {plural: _keys(plural) | SQL_ONLY[plural] for plural in VIEWS}
