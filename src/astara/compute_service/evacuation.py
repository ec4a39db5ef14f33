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


@dataclass(frozen=True)
class Rebuild:
    kind: str
    resource_id: str
    instance_id: str


@dataclass(frozen=True)
class Plan:
    rebuilds: tuple[Rebuild, ...]
    left: tuple[str, ...]  # instances no rebuild moves: tenants' (and unnamed appliances)


def plan(instances: list[tuple[str, str, dict]]) -> Plan:
    """Pure: (instance id, image id, metadata) of a host's live instances -> one rebuild
    per resource (an HA router's two appliances both here: one rebuild), the rest left,
    both in a stable order."""
    rebuilds: dict[tuple[str, str], Rebuild] = {}
    left = []
    for instance_id, image_id, metadata in sorted(instances):
        found = None
        if image_id == catalog.APPLIANCE_IMAGE:
            found = next(((kind, metadata[key]) for key, kind in KINDS.items()
                          if isinstance(metadata.get(key), str) and metadata[key]), None)
        if found is None:
            left.append(instance_id)
        else:
            rebuilds.setdefault(found, Rebuild(*found, instance_id))
    return Plan(tuple(rebuilds.values()), tuple(left))


def on_host(session: Session, host: str) -> list[tuple[str, str, dict]]:
    return [(i.id, i.image_id, dict(i.metadata_ or {})) for i in session.scalars(
        select(Instance).where(Instance.host == host, Instance.deleted.is_(False)))]


def host_state(session: Session, host: str) -> bool | None:
    """Whether HOST is drained; None if no such host is registered."""
    row = session.get(Host, host)
    return None if row is None else row.drained
