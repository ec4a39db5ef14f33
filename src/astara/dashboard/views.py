"""View models: API answers in, plain rows for the templates out. Pure: no I/O, no clock.

A resource is *busy* while an API status says it is on its way somewhere (an instance
building or rebooting, a router in BUILD, a load balancer PENDING_*): the pages show a
progress bar for it and poll ``/status.json`` until it settles.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

BUSY = {
    "server": {"BUILD", "REBOOT", "HARD_REBOOT", "MIGRATING", "RESIZE"},
    "router": {"BUILD", "PENDING_CREATE", "PENDING_UPDATE"},
    "loadbalancer": {"PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE"},
}
GOOD = {"ACTIVE", "ONLINE"}
BAD = {"ERROR", "DOWN", "SHUTOFF", "OFFLINE", "DEGRADED"}
SERVER_ACTIONS = {"start": {"os-start": None}, "stop": {"os-stop": None},
                  "reboot": {"reboot": {"type": "SOFT"}}}


def busy(kind: str, status: str | None) -> bool:
    return (status or "").upper() in BUSY.get(kind, set())


def tone(status: str | None) -> str:
    """A CSS class for a status: good, bad, busy or plain."""
    s = (status or "").upper()
    if s in GOOD:
        return "good"
    if s in BAD:
        return "bad"
    if any(s in states for states in BUSY.values()):
        return "busy"
    return "plain"


def status_of(kind: str, item: dict) -> dict[str, Any]:
    """What a live status cell shows: the status, its tone, busy or not, progress."""
    status = item.get("provisioning_status") if kind == "loadbalancer" else item.get(
        "status")
    progress = item.get("progress") if kind == "server" else None
    return {"status": status or "?", "tone": tone(status), "busy": busy(kind, status),
            # Nova's 0 says "not known yet" as often as "nothing done": an indeterminate bar.
            "progress": progress if isinstance(progress, int) and progress > 0 else None}


def server_row(s: dict) -> dict[str, Any]:
    addresses = [f"{a.get('addr')}" for nets in (s.get("addresses") or {}).values()
                 for a in nets if isinstance(a, dict)]
    return {"id": s.get("id"), "name": s.get("name") or s.get("id"),
            "addresses": ", ".join(addresses) or "-",
            "flavor": (s.get("flavor") or {}).get("id") or (s.get("flavor") or {}).get(
                "original_name", "-"),
            "image": (s.get("image") or {}).get("id", "-") if isinstance(
                s.get("image"), dict) else "-",
            "metadata": dict(sorted((s.get("metadata") or {}).items())),
            **status_of("server", s)}


def router_row(r: dict, interfaces: list[dict] | None = None) -> dict[str, Any]:
    gw = r.get("external_gateway_info") or {}
    return {"id": r.get("id"), "name": r.get("name") or r.get("id"),
            "ha": r.get("ha"), "gateway": gw.get("network_id"),
            "gateway_ips": ", ".join(i.get("ip_address", "") for i in
                                     gw.get("external_fixed_ips") or []),
            "routes": r.get("routes") or [],
            "interfaces": [interface_row(p) for p in interfaces or []],
            **status_of("router", r)}


def interface_row(port: dict) -> dict[str, Any]:
    ips = port.get("fixed_ips") or []
    return {"port_id": port.get("id"), "subnet_id": ips[0].get("subnet_id") if ips else None,
            "ip": ", ".join(i.get("ip_address", "") for i in ips) or "-",
            "owner": port.get("device_owner")}


def parse_route(destination: str, nexthop: str) -> dict[str, str] | None:
    """An extra route from a form (None when a field is empty)."""
    destination, nexthop = destination.strip(), nexthop.strip()
    if not destination or not nexthop:
        return None
    return {"destination": destination, "nexthop": nexthop}


def routes_with(routes: list[dict], route: dict, add: bool) -> list[dict]:
    """A router's routes with one added (once) or removed."""
    kept = [r for r in routes if (r.get("destination"), r.get("nexthop")) !=
            (route["destination"], route["nexthop"])]
    return [*kept, route] if add else kept


def admin_router_row(view: dict) -> dict[str, Any]:
    """A row of the orchestrator's ``/routers/`` view (its last step by name)."""
    steps = view.get("steps") or []
    last = steps[-1] if steps and isinstance(steps[-1], dict) else {}
    return {"id": view.get("id"), "kind": view.get("kind") or "router",
            "tenant_id": view.get("tenant_id") or "-", "status": view.get("status") or "?",
            "tone": tone(view.get("status")), "state": view.get("state") or "-",
            "step": last.get("step") or "-",
            "healthy": bool(view.get("healthy")), "instance_id": view.get("instance_id") or "-",
            "last_error": view.get("last_error") or ""}


def host_row(service: dict) -> dict[str, Any]:
    """A row of the compute API's ``os-services`` (commands go to its ``id``: ours is the
    host's name, a real Nova's a UUID, which is why the calls ask for 2.53)."""
    return {"id": service.get("id"), "name": service.get("host") or service.get("id"),
            "drained": service.get("status") == "disabled",
            "alive": service.get("state") == "up",
            "capacity": service.get("astara:capacity", "-"),
            "instances": service.get("astara:instances", "-"),
            "heartbeat": service.get("updated_at") or "-"}


PREVIEW = 200  # characters of a dead letter's body shown in its row


def age(stamp: str | None, now: float) -> str:
    """How long ago an API's naive-UTC ISO time was, in the largest whole unit."""
    try:
        then = datetime.fromisoformat(stamp or "").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return "-"
    seconds = max(0, int(now - then))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def dead_letter_row(d: dict, now: float) -> dict[str, Any]:
    """A row of ``os-astara-dead-letters``: the body as compact JSON, cut for a preview
    (the template escapes it)."""
    body = json.dumps(d.get("body"), separators=(",", ":"), sort_keys=True)
    return {"id": d.get("id"), "topic": d.get("topic") or "-", "error": d.get("error") or "",
            "age": age(d.get("created_at"), now), "created_at": d.get("created_at") or "-",
            "preview": body if len(body) <= PREVIEW else body[:PREVIEW] + "…"}


RETRY_SAID = {"applied": "applied and removed",
              "dropped": "dropped as stale (nothing changed; the letter stays)",
              "still_unparsable": "still cannot be parsed",
              "still_failing": "still fails to apply"}


def retry_message(result: dict) -> tuple[str, str]:
    """The flash after a retry: ``(text, kind)``, with the letter's new error if any."""
    said = RETRY_SAID.get(result.get("result"), "retried")
    text = f"Dead letter {result.get('id')}: {said}."
    if result.get("result") == "applied":
        return text, "ok"
    error = ((result.get("dead_letter") or {}).get("error") or "")[:300]
    return (f"{text} {error}" if error else text), "error"


def name_map(items: list[dict]) -> dict[str, str]:
    return {i["id"]: i.get("name") or i["id"] for i in items if i.get("id")}
