"""Intake: any network or load-balancer notification -> orchestrator events.

Pure: ``normalize(message)`` accepts an oslo notification dict, or the raw oslo
``2.0`` envelope (``{"oslo.version", "oslo.message": "<json>"}``) as it arrives
from RabbitMQ, and returns the events it implies. Only ``.end`` events and the
single ``router.interface.*`` events mean a change happened; ``.start`` events,
unknown types and malformed messages give no event (``skip_reason`` says why). The
load-balancer service's ``loadbalancer|listener|pool|member|healthmonitor|l7policy|
l7rule.*.end``
name their load balancer: only when the loadbalancer driver is enabled.
``appliance_instance(message, service_project)`` reads a compute service's
``compute.instance.*`` notification (ours or Nova's) about an appliance instance
the orchestrator booted and names its router: a boot that finished wakes the
router at once instead of waiting for its next look.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from astara.orchestrator.drivers import router, router_ha
from astara.orchestrator.drivers.base import Naming
from astara.orchestrator.keys import (
    Crud,
    Event,
    FloatingIPHint,
    NetworkHint,
    ResourceRef,
    is_uuid,
)

ROUTER = "router"
LOADBALANCER = "loadbalancer"
ADMIN_KEY = "_context_is_admin"


is_router_id = is_uuid  # a router (or load balancer) id: a canonical UUID


def is_own_write(msg: dict, service_user: str) -> bool:
    """A notification of the orchestrator's own call. The user id comes from the
    caller's X-User-Id, so a member can claim it; the orchestrator acts as admin."""
    return msg.get("_context_user_id") == service_user and msg.get(ADMIN_KEY) is True


def owned_ref(ref: ResourceRef, known: Mapping[str, ResourceRef],
              project_of: Callable[[str], str | None]) -> ResourceRef | None:
    """The ref to queue for a ref a notification or a port label implied: its
    tenant from the router's own record (known, or ``project_of`` the router;
    None when the router is gone), never from the message. None: not a router id."""
    if not is_router_id(ref.id):
        return None
    if ref.id in known:
        return known[ref.id]
    return ResourceRef(ref.kind, ref.id, project_of(ref.id) or "")


def appliance_instance(message: Any, service_project: str,
                       namings: Iterable[Naming] = (router.NAMING,)) -> ResourceRef | None:
    """The resource whose appliance instance a compute notification is about, or None.

    Only an instance of the orchestrator's own project, named as one of ``namings``
    (the enabled drivers') says (``ak-<router id>``) and carrying that id under its
    metadata key (as the executor boots them), and only an event that ended
    (``.end``/``.error``). The tenant is the service project: the caller replaces it
    with the resource's own (``owned_ref``).
    """
    msg = unwrap(message)
    if msg is None:
        return None
    event_type, payload = msg.get("event_type"), msg.get("payload")
    if not isinstance(event_type, str) or not isinstance(payload, dict) \
            or not event_type.startswith("compute.instance.") \
            or not event_type.endswith((".end", ".error")):
        return None
    meta = payload.get("metadata")
    if not isinstance(meta, dict) or not service_project \
            or payload.get("tenant_id") != service_project:
        return None
    for naming in namings:
        rid = meta.get(naming.metadata_key)
        if not isinstance(rid, str) or payload.get("display_name") != naming.name(rid):
            continue
        # an HA router's member 1 (``<router id>.ha1``) is its router's key
        owner = router_ha.router_of(rid) if naming.kind == "router" else rid
        if is_router_id(owner):
            return ResourceRef(naming.kind, owner, service_project)
    return None


def boot_ended(message: Any) -> str | None:
    """The instance whose boot this compute notification ends (``create.end``), or None:
    that appliance is up, where other ``compute.instance.*`` ends (a delete, an
    attach, an error) call for a full look. Asked only of a notification
    ``appliance_instance`` took as one of the orchestrator's own instances."""
    msg = unwrap(message)
    if msg is None or msg.get("event_type") != "compute.instance.create.end":
        return None
    payload = msg.get("payload")
    instance = payload.get("instance_id") if isinstance(payload, dict) else None
    return instance if isinstance(instance, str) and instance else None


def unwrap(message: Any) -> dict | None:
    if isinstance(message, dict) and "oslo.message" in message:
        try:
            message = json.loads(message["oslo.message"])
        except (TypeError, ValueError):
            return None
    return message if isinstance(message, dict) else None


def _tenant(msg: dict, *objs: Any) -> str:
    for obj in objs:
        if isinstance(obj, dict):
            for key in ("project_id", "tenant_id"):
                if obj.get(key):
                    return str(obj[key])
    return str(msg.get("_context_project_id") or msg.get("_context_tenant_id") or "")


def _crud(event_type: str) -> Crud:
    if ".create" in event_type:
        return Crud.CREATE
    if ".delete" in event_type:
        return Crud.DELETE
    return Crud.UPDATE


def normalize(message: Any, kinds: Collection[str] = (ROUTER,)) -> list[Event]:
    """The events a message implies for the enabled ``kinds`` (drivers) only."""
    msg = unwrap(message)
    if msg is None:
        return []
    event_type = msg.get("event_type")
    payload = msg.get("payload")
    if not isinstance(event_type, str) or not isinstance(payload, dict):
        return []
    handler, kind = _HANDLERS.get(event_type.split(".", 1)[0], (None, None))
    if handler is None or kind not in kinds or event_type.endswith(".start"):
        return []
    try:
        return handler(event_type, payload, msg)
    except (KeyError, TypeError, AttributeError):
        return []


def _router(event_type: str, payload: dict, msg: dict) -> list[Event]:
    if event_type.startswith("router.interface."):
        info = payload["router_interface"]
        ref = ResourceRef(ROUTER, info["id"], _tenant(msg, info))
        return [Event(Crud.UPDATE, ref, event_type)]
    if not event_type.endswith(".end"):
        return []
    router = payload.get("router") or {}
    router_id = router.get("id") or payload.get("router_id") or payload.get("id")
    if not router_id:
        return []
    ref = ResourceRef(ROUTER, router_id, _tenant(msg, router))
    return [Event(_crud(event_type), ref, event_type)]


def _floatingip(event_type: str, payload: dict, msg: dict) -> list[Event]:
    if not event_type.endswith(".end"):
        return []
    fip = payload.get("floatingip") or {}
    tenant = _tenant(msg, fip)
    events = []
    if fip.get("router_id"):
        events.append(Event(Crud.UPDATE, ResourceRef(ROUTER, fip["router_id"], tenant),
                            event_type))
    # The router it left is not named: let the resolver find who still serves it.
    if not fip.get("router_id") or event_type.startswith("floatingip.update"):
        fip_id = fip.get("id") or payload.get("floatingip_id")
        if fip_id:
            events.append(Event(Crud.UPDATE, FloatingIPHint(
                fip_id, fip.get("floating_ip_address"), tenant), event_type))
    return events


def floating_ip_router(message: Any) -> tuple[str, str | None] | None:
    """(floating IP id, the router it is associated with now, or None) of a
    ``floatingip.*.end`` message (a delete: None); None for any other message."""
    msg = unwrap(message)
    event_type = msg.get("event_type") if msg else None
    payload = msg.get("payload") if msg else None
    if not isinstance(event_type, str) or not event_type.startswith("floatingip.") \
            or not event_type.endswith(".end") or not isinstance(payload, dict):
        return None
    fip = payload.get("floatingip")
    fip = fip if isinstance(fip, dict) else {}
    fip_id = fip.get("id") or payload.get("floatingip_id")
    if not isinstance(fip_id, str) or not fip_id:
        return None
    router_id = fip.get("router_id")
    if ".delete" in event_type or not isinstance(router_id, str) or not is_router_id(router_id):
        return fip_id, None
    return fip_id, router_id


def _network_scoped(key: str):
    def handle(event_type: str, payload: dict, msg: dict) -> list[Event]:
        if not event_type.endswith(".end"):
            return []
        obj = payload.get(key) or {}
        network_id = obj.get("network_id") if key != "network" else obj.get("id")
        if not network_id:
            return []
        hint = NetworkHint(network_id, _tenant(msg, obj))
        return [Event(Crud.UPDATE, hint, event_type)]

    return handle


def _loadbalancer(event_type: str, payload: dict, msg: dict) -> list[Event]:
    """The load-balancer service's ``<object>.<action>.end``: a child's payload names
    its ``loadbalancer_id`` beside its view; a delete names only ids."""
    if not event_type.endswith(".end"):
        return []
    kind = event_type.split(".", 1)[0]
    view = payload.get(kind)
    view = view if isinstance(view, dict) else {}
    lb_id = view.get("id") if kind == LOADBALANCER else None
    lb_id = lb_id or payload.get("loadbalancer_id")
    if not isinstance(lb_id, str) or not lb_id:
        return []
    crud = _crud(event_type) if kind == LOADBALANCER else Crud.UPDATE
    return [Event(crud, ResourceRef(LOADBALANCER, lb_id, _tenant(msg, view)), event_type)]


# Event type prefix -> its handler and the driver that must be enabled for it.
_HANDLERS = {
    "router": (_router, ROUTER),
    "floatingip": (_floatingip, ROUTER),
    "port": (_network_scoped("port"), ROUTER),
    "subnet": (_network_scoped("subnet"), ROUTER),
    "network": (_network_scoped("network"), ROUTER),
    **{kind: (_loadbalancer, LOADBALANCER)
       for kind in ("loadbalancer", "listener", "pool", "member", "healthmonitor",
                    "l7policy", "l7rule")},
}
