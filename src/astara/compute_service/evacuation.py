"""Which appliances live on a host, as ``astara-compute-manage host-evacuate`` asks.

An appliance is an instance of the appliance image (only an admin, the orchestrator,
boots it), so the resource named in its metadata (``astara_router_id``,
``astara_loadbalancer_id``: what the orchestrator's drivers write) is not a tenant's
claim. ``plan`` is pure: instance rows in, the orchestrator commands out; ``on_host``
reads them from the compute database. The CLI sends the commands (the RPC API's
rebuild) and the orchestrator boots each appliance again, where placement puts it:
never on the drained host.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.compute_service import catalog
from astara.compute_service.models import Host, Instance

# metadata key -> the RPC API's kind (its ``PUT /<kind>/rebuild/<id>``)
KINDS = {"astara_router_id": "router", "astara_loadbalancer_id": "loadbalancer"}
# An HA router's member 1 is named ``<router id>.ha1`` (the orchestrator's
# ``router_ha.SUFFIX``; the services import nothing of each other): its rebuild is asked
# by that key, which replaces that member only.
HA_MEMBER_SUFFIX = ".ha1"
# The states of an instance already on its way out: the agent of a dead host never
# confirms the delete, so the row stays; nothing is asked for it again.
GOING = ("deleting", "deleted")


@dataclass(frozen=True)
class Rebuild:
    kind: str
    resource_id: str  # the RPC key: a router's, its member 1's, a load balancer's
    instance_id: str

    @property
    def shown_id(self) -> str:
        """The resource the RPC API shows (``GET /<kind>s/<id>``): member 1's router."""
        return self.resource_id.removesuffix(HA_MEMBER_SUFFIX) \
            if self.kind == "router" else self.resource_id


@dataclass(frozen=True)
class Plan:
    rebuilds: tuple[Rebuild, ...]
    left: tuple[str, ...]  # instances no rebuild moves: tenants' (and unnamed appliances)
    going: tuple[str, ...] = ()  # appliances being deleted already (awaiting the agent)


def plan(instances: list[tuple[str, str, dict, str | None]]) -> Plan:
    """Pure: (instance id, image id, metadata, task state) of a host's live instances ->
    a rebuild per appliance (by its key: an HA router's members are two keys, each
    rebuilt alone; the CLI asks only for the one the orchestrator holds, so an old
    appliance of the same key is not a second rebuild), the rest left, those being
    deleted apart, all in a stable order."""
    rebuilds: list[Rebuild] = []
    left, going = [], []
    for instance_id, image_id, metadata, task_state in sorted(
            instances, key=lambda row: row[0]):
        found = _key(metadata) if image_id == catalog.APPLIANCE_IMAGE else None
        if found is None:
            left.append(instance_id)
        elif task_state in GOING:
            going.append(instance_id)
        else:
            rebuilds.append(Rebuild(*found, instance_id))
    return Plan(tuple(rebuilds), tuple(left), tuple(going))


def current_instance(step: Rebuild, shown: dict) -> str | None:
    """Pure: the instance the orchestrator holds for ``step``'s key, from its
    ``GET /<kind>s/<id>`` row (member 1's is in its router's ``ha.members``)."""
    if step.resource_id == step.shown_id:
        return shown.get("instance_id")
    for member in (shown.get("ha") or {}).get("members") or ():
        if member.get("member") == 1:
            return member.get("instance_id")
    return None


def moved(asked: dict[tuple[str, str], str], host: str,
          appliances: list[tuple[str, str, dict, str | None, str, str]]
          ) -> dict[tuple[str, str], str]:
    """Pure: where each asked (kind, key) stands (``asked``: its old appliance's
    instance id), from every live appliance (instance id, image id, metadata, task
    state, host, vm state): ``"here"`` (its old appliance is not being deleted yet),
    ``"active"`` (a new one is active elsewhere), ``"error"`` (the new one is in error:
    no host had room, or its boot failed) or ``"waiting"`` (booting, or none yet)."""
    out = {}
    for key, old in asked.items():
        mine = [row for row in appliances if row[1] == catalog.APPLIANCE_IMAGE
                and _key(row[2]) == key and row[3] not in GOING and row[4] != host]
        if any(row[0] == old and row[3] not in GOING for row in appliances):
            out[key] = "here"
        elif any(row[5] == "active" for row in mine):
            out[key] = "active"
        elif any(row[5] == "error" for row in mine):
            out[key] = "error"
        else:
            out[key] = "waiting"
    return out


def _key(metadata: dict) -> tuple[str, str] | None:
    return next(((kind, metadata[key]) for key, kind in KINDS.items()
                 if isinstance(metadata.get(key), str) and metadata[key]), None)


def appliances(session: Session) -> list[tuple[str, str, dict, str | None, str, str]]:
    return [(i.id, i.image_id, dict(i.metadata_ or {}), i.task_state, i.host or "",
             i.vm_state) for i in session.scalars(select(Instance).where(
                 Instance.image_id == catalog.APPLIANCE_IMAGE,
                 Instance.deleted.is_(False)))]


def on_host(session: Session, host: str) -> list[tuple[str, str, dict, str | None]]:
    return [(i.id, i.image_id, dict(i.metadata_ or {}), i.task_state) for i in
            session.scalars(select(Instance).where(Instance.host == host,
                                                   Instance.deleted.is_(False)))]


def host_state(session: Session, host: str) -> bool | None:
    """Whether HOST is drained; None if no such host is registered."""
    row = session.get(Host, host)
    return None if row is None else row.drained
