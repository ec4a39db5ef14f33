"""The statuses the orchestrator writes back for one load balancer. Pure.

``statuses(model, health, provisioning)`` is the body of ``PUT /v2/astara/
loadbalancers/{id}/statuses``: the model's ``revision`` (the service writes the
provisioning statuses only if it is still the current one), ``provisioning``
(ACTIVE: the appliance holds this revision's document; ERROR: it refused it, or the
load balancer's appliance cannot be booted) for the load balancer and every object
served, ERROR and OFFLINE for every object the appliance was not given
(``loadbalancer_map``), and the operating statuses the appliance reports
(``wire.appliance_status.LoadBalancerHealth``) where it reports them, with haproxy's
counters of each listener (``stats``) and ``stats_epoch``: the appliance instance
and haproxy worker that counted them (the service keeps totals over their restarts).
L7 policies and rules are not in that report: once ACTIVE they are ONLINE, or
OFFLINE when they (or a rule's policy) are disabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astara.orchestrator.drivers.loadbalancer_map import loadbalancer_section
from astara.wire.appliance_status import LoadBalancerHealth

if TYPE_CHECKING:
    from astara.orchestrator.drivers.loadbalancer import LoadBalancerModel

ACTIVE = "ACTIVE"
ERROR = "ERROR"
OFFLINE = "OFFLINE"
ONLINE = "ONLINE"
# What the load-balancer API accepts as an operating status.
OPERATING = frozenset({"ONLINE", "OFFLINE", "DEGRADED", "ERROR", "NO_MONITOR", "DRAINING"})
PLURAL = {"listener": "listeners", "pool": "pools", "member": "members",
          "healthmonitor": "healthmonitors", "l7policy": "l7policies", "l7rule": "l7rules"}


def _operating(health: LoadBalancerHealth | None) -> dict[str, str]:
    """Object id -> the operating status the appliance reports for it."""
    if health is None:
        return {}
    out = {health.id: health.operating_status}
    for listener in health.listeners:
        out[listener.id] = listener.operating_status
    for pool in health.pools:
        out[pool.id] = pool.operating_status
        for member in pool.members:
            out[member.id] = member.operating_status
    return {k: v for k, v in out.items() if v in OPERATING}


def _stats(health: LoadBalancerHealth | None, instance_id: str | None
           ) -> tuple[dict[str, dict], str | None]:
    """Listener id -> its five counters, and the epoch they were counted in."""
    if health is None or instance_id is None:
        return {}, None
    counters = {x.id: x.counters.model_dump() for x in health.listeners}
    return counters, f"{instance_id}/{health.stats_epoch or ''}"


def statuses(model: LoadBalancerModel, health: LoadBalancerHealth | None,
             provisioning: str, instance_id: str | None = None) -> dict:
    lb_id = model.loadbalancer["id"]
    try:
        _, refused = loadbalancer_section(model.loadbalancer, model.listeners, model.pools,
                                          model.members, model.healthmonitors,
                                          model.l7policies, model.l7rules,
                                          model.certificates)
    except (ValueError, KeyError, TypeError):  # nothing can be served (nor built)
        refused = {}
        provisioning = ERROR
    # Only what this load balancer's appliance reports about this load balancer.
    operating = _operating(health) if health is not None and health.id == lb_id else {}
    body: dict = {"revision": model.revision,
                  "loadbalancer": _entry(None, provisioning, operating.get(lb_id))}
    enabled = {p["id"] for p in model.l7policies if p.get("admin_state_up", True)}
    counted, epoch = _stats(health if operating else None, instance_id)
    if counted:
        body["stats_epoch"] = epoch
    for kind, plural in PLURAL.items():
        entries = []
        for view in sorted(getattr(model, plural), key=lambda v: v["id"]):
            oid = view["id"]
            if oid in refused:
                entries.append(_entry(oid, ERROR, OFFLINE))
            elif kind == "healthmonitor":
                # A monitor has no status of its own in the appliance's report: it runs
                # when its pool is reported.
                pool_ids = [p.get("id") for p in view.get("pools") or []]
                reported = provisioning == ACTIVE and any(p in operating for p in pool_ids)
                entries.append(_entry(oid, provisioning, ONLINE if reported else None))
            elif kind in ("l7policy", "l7rule"):
                # Not in the appliance's report: in effect once ACTIVE, unless disabled.
                on = oid in enabled if kind == "l7policy" else \
                    view.get("admin_state_up", True) and view.get("l7policy_id") in enabled
                entries.append(_entry(oid, provisioning, (ONLINE if on else OFFLINE)
                                      if provisioning == ACTIVE else None))
            else:
                entries.append(_entry(oid, provisioning, operating.get(oid)))
        body[plural] = entries
    for entry in body["listeners"]:
        if entry["id"] in counted:
            entry["stats"] = counted[entry["id"]]
    return body


def _entry(oid: str | None, provisioning: str, operating: str | None) -> dict:
    out: dict = {} if oid is None else {"id": oid}
    out["provisioning_status"] = provisioning
    if operating is not None:
        out["operating_status"] = operating
    return out
