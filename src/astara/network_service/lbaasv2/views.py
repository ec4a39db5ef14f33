"""The load-balancer service's (Octavia) views as neutron-lbaas v2 shows them (pure).

neutron-lbaas shows only the attributes its v2 map marks visible: no timestamps or
tags, no statuses on listeners, pools, members and monitors (its status tree has
them), ``tenant_id`` beside ``project_id``, and relations as lists of ``{"id"}``.
"""

from __future__ import annotations

import copy

_OWNER = ("id", "tenant_id", "project_id", "name", "admin_state_up")

KEYS = {
    "loadbalancers": (*_OWNER, "description", "vip_subnet_id", "vip_port_id", "vip_address",
                      "provisioning_status", "operating_status", "provider", "listeners",
                      "pools"),
    "listeners": (*_OWNER, "description", "default_pool_id", "protocol", "protocol_port",
                  "connection_limit", "loadbalancers", "default_tls_container_ref",
                  "sni_container_refs", "l7policies"),
    "pools": (*_OWNER, "description", "healthmonitor_id", "protocol", "lb_algorithm",
              "session_persistence", "members", "listeners", "loadbalancers"),
    "members": (*_OWNER, "address", "protocol_port", "weight", "subnet_id"),
    "healthmonitors": (*_OWNER, "type", "delay", "timeout", "max_retries",
                       "max_retries_down", "http_method", "url_path", "expected_codes",
                       "pools"),
}
# Filters neutron-lbaas takes on attributes its views hide (the service filters them).
HIDDEN_FILTERS = {"listeners": ("loadbalancer_id",), "pools": ("loadbalancer_id",),
                  "healthmonitors": ("pool_id",), "members": (), "loadbalancers": ()}


def view(plural: str, octavia: dict) -> dict:
    out = {key: octavia.get(key) for key in KEYS[plural]}
    out["tenant_id"] = out["project_id"] = octavia["project_id"]
    if plural == "pools":
        sp = octavia.get("session_persistence")
        out["session_persistence"] = ({"type": sp["type"], "cookie_name": sp.get("cookie_name")}
                                      if sp else None)
    elif plural == "healthmonitors" and octavia["type"] in ("TCP", "PING"):
        for key in ("http_method", "url_path", "expected_codes"):
            out.pop(key)  # neutron-lbaas leaves them out of a TCP or PING monitor
    return out


def _status(octavia: dict, **extra) -> dict:
    return {"id": octavia["id"], "name": octavia["name"],
            "provisioning_status": octavia["provisioning_status"],
            "operating_status": octavia["operating_status"], **extra}


def _disabled(tree: dict) -> dict:
    """An object whose admin_state_up is false shows DISABLED, and so do its children."""
    tree["operating_status"] = "DISABLED"
    for value in tree.values():
        for child in value if isinstance(value, list) else [value] \
                if isinstance(value, dict) else []:
            if "operating_status" in child:
                _disabled(child)
    return tree


def _degraded(obj: dict, operating: bool = True) -> bool:
    """neutron-lbaas's rule: in ERROR, or (when its operating status counts) neither
    ONLINE nor NO_MONITOR."""
    if obj["provisioning_status"] == "ERROR":
        return True
    return operating and obj["operating_status"] not in ("ONLINE", "NO_MONITOR")


def status_tree(model: dict) -> dict:
    """neutron-lbaas's ``GET /lbaas/loadbalancers/{id}/statuses`` from the service's
    ``model`` of one load balancer: its listeners with their default pool, and every
    pool with its members and monitor (``{}`` when it has none). An object disabled
    (``admin_state_up`` false) shows DISABLED with its children; a degraded one (see
    ``_degraded``) makes the objects above it DEGRADED, as neutron-lbaas derives it."""
    monitors = {hm["pools"][0]["id"]: hm for hm in model["healthmonitors"] if hm["pools"]}
    members = {m["id"]: m for m in model["members"]}
    lb = model["loadbalancer"]

    def pool_status(pool: dict) -> tuple[dict, bool]:
        """The pool's tree and whether a member or its monitor degrades what is above."""
        out = _status(pool, members=[], healthmonitor={})
        if not pool["admin_state_up"]:
            return _disabled(out), False
        below = False
        for ref in pool["members"]:
            member = members.get(ref["id"])
            if member is None:
                continue
            status = _status(member, address=member["address"],
                             protocol_port=member["protocol_port"])
            if not member["admin_state_up"]:
                status = _disabled(status)
            elif _degraded(member):
                below = True
            out["members"].append(status)
        hm = monitors.get(pool["id"])
        if hm is not None:
            status = {"id": hm["id"], "name": hm["name"], "type": hm["type"],
                      "provisioning_status": hm["provisioning_status"]}
            if not hm["admin_state_up"]:
                status["operating_status"] = "DISABLED"
            elif _degraded(hm, operating=False):
                below = True
            out["healthmonitor"] = status
        if below:
            out["operating_status"] = "DEGRADED"
        return out, below

    trees = {p["id"]: (p, *pool_status(p)) for p in model["pools"]}

    def disabled_listener(listener: dict) -> dict:
        default = trees.get(listener.get("default_pool_id") or "")
        pools = [copy.deepcopy(default[1])] if default is not None else []
        return _disabled(_status(listener, pools=pools, l7policies=[]))

    if not lb["admin_state_up"]:  # neutron-lbaas shows its listeners only, all DISABLED
        tree = _status(lb, listeners=[disabled_listener(li) for li in model["listeners"]])
        return {"statuses": {"loadbalancer": _disabled(tree)}}
    tree = _status(lb, listeners=[], pools=[])
    degraded = _degraded(lb)
    sent = set()  # pools shown under an enabled listener
    for listener in model["listeners"]:
        default = trees.get(listener.get("default_pool_id") or "")
        status = _status(listener, pools=[], l7policies=[])
        if not listener["admin_state_up"]:
            tree["listeners"].append(disabled_listener(listener))
            continue
        degraded = degraded or _degraded(listener)
        if default is not None:
            pool, pool_tree, below = default
            status["pools"].append(pool_tree)
            sent.add(pool["id"])
            if pool["admin_state_up"] and (_degraded(pool) or below):
                status["operating_status"] = "DEGRADED"
                degraded = True
        tree["listeners"].append(status)
    for pool_id, (pool, pool_tree, below) in trees.items():
        if pool_id not in sent and pool["admin_state_up"] and (_degraded(pool) or below):
            degraded = True
        tree["pools"].append(pool_tree)
    if degraded:
        tree["operating_status"] = "DEGRADED"
    return {"statuses": {"loadbalancer": tree}}
