"""Octavia's views of a load balancer's objects -> the document's ``loadbalancer`` section.

Pure. Each listener, pool, member, health monitor, L7 policy and L7 rule is mapped on
its own and checked against the wire model (``wire.loadbalancer_config``); one the
appliance cannot serve (a UDP, SCTP or PROMETHEUS listener, a TERMINATED_HTTPS one whose
certificate is not in the model, a UDP or SCTP pool, a SOURCE_IP_PORT pool, a
UDP-CONNECT or SCTP monitor, an SSL_* rule, a value the wire refuses) is left out and
listed in the refusals with why: the driver reports it ERROR. A member or monitor of a
refused pool is refused with it; a listener whose default pool is refused is served
without one; the policies of a refused listener, a policy sending to a refused pool, and
the rules of a refused policy are refused with it. Policies and rules whose admin state
is down are left out (not refused): haproxy's rendering would skip them anyway. The
section carries the PEM bundles its served listeners name, each once; a message never
quotes one.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from astara.wire.loadbalancer_config import (
    HTTP_PROTOCOLS,
    MAX_LISTENERS,
    MAX_MEMBERS,
    MAX_POOLS,
    POOLS_FOR,
    Certificate,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    cookie_persistence_fits,
)

# What the appliance serves (haproxy); anything else is refused, not sent.
LISTENER_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS"})
POOL_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2"})
ALGORITHMS = frozenset({"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"})
MONITOR_TYPES = frozenset({"HTTP", "HTTPS", "TCP", "PING", "TLS-HELLO"})
L7RULE_TYPES = frozenset({"PATH", "HOST_NAME", "HEADER", "COOKIE", "FILE_TYPE"})
MAX_POLICIES, MAX_RULES = 100, 50  # per listener, per policy (the wire's)
# The wire's bounds, where Octavia's are wider: kept within them, not refused.
MAX_CONNECTIONS = 1_000_000
MAX_MILLIS = 24 * 3600 * 1000
MAX_SECONDS = 86400

# id -> (kind, why): what the appliance is not given.
Refusals = dict[str, tuple[str, str]]


def _short(exc: ValidationError) -> str:
    err = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(x) for x in err.get("loc", ()))
    return f"{where}: {err.get('msg', str(exc))}"[:200] if where else str(err.get("msg"))[:200]


def _listener(view: dict, pools: dict[str, Pool]) -> dict[str, Any]:
    limit = view.get("connection_limit")
    pool_id = view.get("default_pool_id")
    pool = pools.get(pool_id) if pool_id else None
    if pool is not None and pool.protocol not in POOLS_FOR.get(view["protocol"], ()):
        pool = None
    out: dict[str, Any] = {
        "id": view["id"], "protocol": view["protocol"],
        "protocol_port": view["protocol_port"],
        "admin_state_up": bool(view.get("admin_state_up", True)),
        # Octavia's -1 (or none) is unlimited.
        "connection_limit": None if limit is None or limit < 0 else min(limit,
                                                                          MAX_CONNECTIONS),
        "default_pool_id": pool.id if pool is not None else None,
        "allowed_cidrs": list(view.get("allowed_cidrs") or []),
    }
    if view["protocol"] == "TERMINATED_HTTPS":
        out["default_tls_container_ref"] = view.get("default_tls_container_ref")
        out["sni_container_refs"] = list(view.get("sni_container_refs") or [])
    for key in ("timeout_client_data", "timeout_member_connect", "timeout_member_data",
                "timeout_tcp_inspect"):
        if view.get(key) is not None:
            out[key] = min(int(view[key]), MAX_MILLIS)
    return out


def _monitor(view: dict) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": view["id"], "type": view["type"],
        "delay": min(max(int(view["delay"]), 1), MAX_SECONDS),
        "timeout": min(max(int(view["timeout"]), 1), MAX_SECONDS),
        "max_retries": view["max_retries"],
        "admin_state_up": bool(view.get("admin_state_up", True)),
    }
    if view.get("max_retries_down") is not None:
        out["max_retries_down"] = view["max_retries_down"]
    for key in ("http_method", "url_path", "expected_codes", "domain_name"):
        if view.get(key) is not None:
            out[key] = view[key]
    if view.get("http_version") is not None:
        out["http_version"] = f"{float(view['http_version']):.1f}"
    return out


def _member(view: dict) -> dict[str, Any]:
    out = {k: view[k] for k in ("id", "address", "protocol_port")}
    out["weight"] = view.get("weight", 1)
    out["admin_state_up"] = bool(view.get("admin_state_up", True))
    out["backup"] = bool(view.get("backup", False))
    for key in ("monitor_address", "monitor_port"):
        if view.get(key) is not None:
            out[key] = view[key]
    return out


def _persistence(view: dict) -> dict | None:
    sp = view.get("session_persistence")
    if not sp:
        return None
    return {"type": sp.get("type"), "cookie_name": sp.get("cookie_name")}


def _pool(view: dict, members: dict[str, dict], monitors: dict[str, dict],
          refused: Refusals) -> Pool | None:
    """The pool with the members and monitor it can serve, or None (refused)."""
    pid = view["id"]
    why = None
    if view.get("protocol") not in POOL_PROTOCOLS:
        why = f"pool protocol {view.get('protocol')} is not served (not yet)"
    elif view.get("lb_algorithm") not in ALGORITHMS:
        why = f"lb_algorithm {view.get('lb_algorithm')} is not served (not yet)"
    member_ids = [m["id"] for m in view.get("members") or [] if m.get("id") in members]
    monitor_id = view.get("healthmonitor_id")
    monitor = monitors.get(monitor_id) if monitor_id else None
    if why is None:
        try:
            pool = Pool.model_validate({
                "id": pid, "protocol": view["protocol"], "lb_algorithm": view["lb_algorithm"],
                "session_persistence": _persistence(view),
                "admin_state_up": bool(view.get("admin_state_up", True))})
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            why = _short(exc) if isinstance(exc, ValidationError) else f"bad pool: {exc}"
    if why is not None:
        refused[pid] = ("pool", why)
        for mid in member_ids:
            refused[mid] = ("member", f"its pool {pid} is not served")
        if monitor is not None:
            refused[monitor["id"]] = ("healthmonitor", f"its pool {pid} is not served")
        return None
    served: list[Member] = []
    for mid in member_ids:
        try:
            served.append(Member.model_validate(_member(members[mid])))
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            refused[mid] = ("member", _short(exc) if isinstance(exc, ValidationError)
                            else f"bad member: {exc}")
    hm = None
    if monitor is not None:
        if monitor.get("type") not in MONITOR_TYPES:
            refused[monitor["id"]] = ("healthmonitor", f"monitor type {monitor.get('type')} "
                                      "is not served (not yet)")
        else:
            try:
                hm = HealthMonitor.model_validate(_monitor(monitor))
            except (ValidationError, KeyError, TypeError, ValueError) as exc:
                refused[monitor["id"]] = ("healthmonitor", _short(exc)
                                          if isinstance(exc, ValidationError)
                                          else f"bad monitor: {exc}")
    for extra in served[MAX_MEMBERS:]:
        refused[extra.id] = ("member", f"pool {pid} already has the {MAX_MEMBERS} members "
                             "an appliance serves")
    try:  # validated whole (model_copy would check nothing): duplicates, bounds
        return Pool.model_validate({
            **pool.model_dump(), "members": [m.model_dump() for m in served[:MAX_MEMBERS]],
            "healthmonitor": hm.model_dump() if hm is not None else None})
    except ValidationError as exc:  # duplicate members: the pool as a whole cannot be
        refused[pid] = ("pool", _short(exc))
        for m in served:
            refused.setdefault(m.id, ("member", f"its pool {pid} is not served"))
        if hm is not None:
            refused.setdefault(hm.id, ("healthmonitor", f"its pool {pid} is not served"))
        return None


def _rule(view: dict) -> L7Rule:
    out = {k: view[k] for k in ("id", "type", "compare_type", "value")}
    out["invert"] = bool(view.get("invert", False))
    if view["type"] in ("HEADER", "COOKIE"):
        out["key"] = view.get("key")
    return L7Rule.model_validate(out)


def _refuse_policy(view: dict, rules: list[dict], why: str, refused: Refusals) -> None:
    refused[view["id"]] = ("l7policy", why)
    for rule in rules:
        refused[rule["id"]] = ("l7rule", f"its L7 policy {view['id']} is not served")


def _policy(view: dict, rules: list[dict], listener_protocol: str,
            pools: dict[str, Pool], refused: Refusals) -> L7Policy | None:
    """The enabled policy with its enabled rules, or None (left out or refused)."""
    if not view.get("admin_state_up", True):
        return None
    pool_id = view.get("redirect_pool_id")
    if view.get("action") == "REDIRECT_TO_POOL":
        pool = pools.get(pool_id or "")
        if pool is None or pool.protocol not in POOLS_FOR.get(listener_protocol, ()) \
                or not cookie_persistence_fits(listener_protocol, pool):
            _refuse_policy(view, rules, f"its pool {pool_id} is not served", refused)
            return None
    served: list[L7Rule] = []
    for rule in rules:
        if not rule.get("admin_state_up", True):
            continue
        if rule.get("type") not in L7RULE_TYPES:
            refused[rule["id"]] = ("l7rule", f"L7 rule type {rule.get('type')} is not "
                                   "served (not yet)")
            continue
        try:
            served.append(_rule(rule))
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            refused[rule["id"]] = ("l7rule", _short(exc) if isinstance(exc, ValidationError)
                                   else f"bad L7 rule: {exc}")
    for extra in served[MAX_RULES:]:
        refused[extra.id] = ("l7rule", f"L7 policy {view['id']} already has the "
                             f"{MAX_RULES} rules an appliance serves")
    out: dict[str, Any] = {
        "id": view["id"], "action": view.get("action"), "position": view.get("position"),
        "redirect_url": view.get("redirect_url"), "redirect_prefix": view.get("redirect_prefix"),
        "redirect_pool_id": pool_id if view.get("action") == "REDIRECT_TO_POOL" else None,
        "rules": served[:MAX_RULES]}
    if view.get("redirect_http_code") is not None:
        out["redirect_http_code"] = view["redirect_http_code"]
    try:
        return L7Policy.model_validate(out)
    except (ValidationError, TypeError, ValueError) as exc:
        _refuse_policy(view, rules, _short(exc) if isinstance(exc, ValidationError)
                       else f"bad L7 policy: {exc}", refused)
        return None


def _policies(listener: dict, policies: list[dict], rules: dict[str, list[dict]],
              pools: dict[str, Pool], refused: Refusals) -> list[L7Policy]:
    if policies and listener.get("protocol") not in HTTP_PROTOCOLS:
        for view in policies:
            _refuse_policy(view, rules.get(view["id"], []), "L7 policies need an HTTP "
                           "listener", refused)
        return []
    served: list[L7Policy] = []
    for view in sorted(policies, key=lambda p: (p.get("position") or 0, p["id"])):
        policy = _policy(view, rules.get(view["id"], []), listener["protocol"], pools,
                         refused)
        if policy is None:
            continue
        if len(served) >= MAX_POLICIES or policy.position in {p.position for p in served}:
            _refuse_policy(view, rules.get(view["id"], []), "its position is taken or the "
                           f"{MAX_POLICIES} policies a listener serves are", refused)
            continue
        served.append(policy)
    return served


def _refuse_listener_policies(listener_id: str, policies: list[dict],
                              rules: dict[str, list[dict]], refused: Refusals) -> None:
    """A refused listener's policies and rules (those left out as admin down too: none
    of them is served); a policy refused earlier keeps its reason."""
    for view in policies:
        refused.setdefault(view["id"], ("l7policy", f"its listener {listener_id} is not "
                                        "served"))
        for rule in rules.get(view["id"], []):
            refused.setdefault(rule["id"], ("l7rule", f"its L7 policy {view['id']} is not "
                                            "served"))


def _certificates(views: list[dict]) -> dict[str, Certificate]:
    """The model's bundles the wire accepts, by reference (a bad one is simply absent:
    its listener is then refused for a missing certificate, nothing quoted)."""
    out: dict[str, Certificate] = {}
    for view in views:
        try:
            cert = Certificate.model_validate({"ref": view.get("ref"), "pem": view.get("pem")})
        except (ValidationError, AttributeError):
            continue
        out[cert.ref] = cert
    return out


def loadbalancer_section(lb: dict, listeners: list[dict], pools: list[dict],
                         members: list[dict], monitors: list[dict],
                         l7policies: list[dict] = (), l7rules: list[dict] = (),
                         certificates: list[dict] = ()) -> tuple[dict[str, Any], Refusals]:
    """The section (as a dict the wire validates with the document) and the refusals."""
    refused: Refusals = {}
    pems = _certificates(certificates)
    policies_of: dict[str, list[dict]] = {}
    for view in l7policies:
        policies_of.setdefault(view.get("listener_id") or "", []).append(view)
    rules_of: dict[str, list[dict]] = {}
    for view in l7rules:
        rules_of.setdefault(view.get("l7policy_id") or "", []).append(view)
    by_member = {m["id"]: m for m in members}
    by_monitor = {h["id"]: h for h in monitors}
    served_pools: dict[str, Pool] = {}
    for view in sorted(pools, key=lambda p: p["id"]):
        pool = _pool(view, by_member, by_monitor, refused)
        if pool is not None and len(served_pools) >= MAX_POOLS:
            refused[pool.id] = ("pool", f"the {MAX_POOLS} pools an appliance serves are taken")
            for m in pool.members:
                refused[m.id] = ("member", f"its pool {pool.id} is not served")
            if pool.healthmonitor is not None:
                refused[pool.healthmonitor.id] = ("healthmonitor",
                                                  f"its pool {pool.id} is not served")
        elif pool is not None:
            served_pools[pool.id] = pool
    served_listeners: list[Listener] = []
    ports: set[int] = set()
    for view in sorted(listeners, key=lambda x: x["id"]):
        mine = policies_of.get(view["id"], [])
        if view.get("protocol") not in LISTENER_PROTOCOLS:
            refused[view["id"]] = ("listener", f"listener protocol {view.get('protocol')} "
                                   "is not served (not yet)")
            _refuse_listener_policies(view["id"], mine, rules_of, refused)
            continue
        try:
            listener = Listener.model_validate(_listener(view, served_pools))
            policies = _policies(view, mine, rules_of, served_pools, refused)
            listener = Listener.model_validate({**listener.model_dump(),
                                                "l7policies": policies})
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            refused[view["id"]] = ("listener", _short(exc) if isinstance(exc, ValidationError)
                                   else f"bad listener: {exc}")
            _refuse_listener_policies(view["id"], mine, rules_of, refused)
            continue
        why = None
        pool = served_pools.get(listener.default_pool_id or "")
        missing = [r for r in listener.certificate_refs() if r not in pems]
        if missing:
            why = f"its certificate {missing[0]} is not in the model"
        elif listener.protocol_port in ports:
            why = f"port {listener.protocol_port} is taken"
        elif pool is not None and not cookie_persistence_fits(listener.protocol, pool):
            why = f"its default pool {pool.id} persists by cookie, which needs an HTTP listener"
        elif len(served_listeners) >= MAX_LISTENERS:
            why = f"the {MAX_LISTENERS} listeners an appliance serves are taken"
        if why is not None:
            refused[view["id"]] = ("listener", why)
            _refuse_listener_policies(view["id"], mine, rules_of, refused)
            continue
        ports.add(listener.protocol_port)
        served_listeners.append(listener)
    used = dict.fromkeys(r for x in served_listeners for r in x.certificate_refs())
    section = LoadBalancer.model_validate({
        "id": lb["id"], "vip_address": lb["vip_address"],
        "admin_state_up": bool(lb.get("admin_state_up", True)),
        "listeners": served_listeners, "pools": list(served_pools.values()),
        "certificates": [pems[ref] for ref in used]})
    return section.model_dump(mode="json"), refused
