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


def status_tree(model: dict) -> dict:
    """neutron-lbaas's ``GET /lbaas/loadbalancers/{id}/statuses`` from the service's
    ``model`` of one load balancer: its listeners with their default pool, and every
    pool with its members and monitor (``{}`` when it has none)."""
    monitors = {hm["pools"][0]["id"]: hm for hm in model["healthmonitors"] if hm["pools"]}
    members = {m["id"]: m for m in model["members"]}

    def pool_status(pool: dict) -> dict:
        hm = monitors.get(pool["id"])
        out = _status(pool, members=[], healthmonitor={})
        for ref in pool["members"]:
            member = members.get(ref["id"])
            if member is not None:
                status = _status(member, address=member["address"],
                                 protocol_port=member["protocol_port"])
                out["members"].append(status if member["admin_state_up"] else
                                      _disabled(status))
        if hm is not None:
            status = {"id": hm["id"], "name": hm["name"], "type": hm["type"],
                      "provisioning_status": hm["provisioning_status"]}
            out["healthmonitor"] = status if hm["admin_state_up"] else \
                {**status, "operating_status": "DISABLED"}
        return out if pool["admin_state_up"] else _disabled(out)

    pools = {p["id"]: pool_status(p) for p in model["pools"]}
    listeners = []
    for listener in model["listeners"]:
        default = listener.get("default_pool_id")
        sent_to = [copy.deepcopy(pools[default])] if default in pools else []
        status = _status(listener, pools=sent_to, l7policies=[])
        listeners.append(status if listener["admin_state_up"] else _disabled(status))
    lb = model["loadbalancer"]
    tree = _status(lb, listeners=listeners, pools=list(pools.values()))
    return {"statuses": {"loadbalancer": tree if lb["admin_state_up"] else _disabled(tree)}}
