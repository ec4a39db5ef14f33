"""What the reconciler asks of a resource kind's driver (``router``, ``loadbalancer``).

A driver reads its resource through the clients' generic calls (``read``), names the
resource's appliance instance for the compute API (``naming``), builds the appliance's
document purely (``build``) and writes the statuses its API shows back (``report``,
``refused``). The observer, planner and executor are the same for every kind; the
clients know no kind (``drivers.registry`` makes the enabled drivers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import RouterState
from astara.orchestrator.reconcile.model import ApplianceIdentity, Decision
from astara.wire.appliance_config import ApplianceConfig


@dataclass(frozen=True)
class Management:
    mac_address: str
    addresses: tuple[str, ...]  # with prefix, e.g. "fdca::5/64"
    orchestrator_address: str
    metadata_port: int  # of the orchestrator's metadata proxy


@dataclass(frozen=True)
class Naming:
    """A kind's appliance instances: ``<prefix><id>`` with the id under ``metadata_key``
    (kept as they were for routers: running appliances are adopted after an upgrade)."""

    kind: str
    prefix: str
    metadata_key: str
    generation_key: str | None = None  # see ``Resource.generation``

    def name(self, resource_id: str) -> str:
        return f"{self.prefix}{resource_id}"[:63]

    def identity(self, resource_id: str, generation: int = 0) -> ApplianceIdentity:
        return ApplianceIdentity(resource_id, self.name(resource_id), self.metadata_key,
                                 self.generation_key, generation)


@dataclass(frozen=True)
class Resource:
    """One resource as its driver read it: what the observer needs, whatever the kind."""

    model: Any  # the driver's own model, handed back to its ``build`` and ``report``
    mgmt_port: dict | None  # the appliance's management port, once made
    ports: tuple[dict, ...]  # every other port the appliance is plugged with
    subnets: Mapping[str, dict]  # by id: the management port's subnet when known
    admin_up: bool = True
    # Equal fingerprints: equal models, the last document is kept. None: build again.
    fingerprint: str | None = None
    floating_ips: frozenset[str] = frozenset()
    # Ports to report ACTIVE once the appliance holds the document (routers' leases).
    activate: tuple[str, ...] = ()
    # What the driver's ``report`` needs later, kept with the document built (routers
    # keep nothing: a thousand routers' models would stay in memory for no use).
    kept: Any = None
    # The appliance wanted is one booted for this generation or a later one (a load
    # balancer's failover count); one booted for an earlier one is replaced.
    generation: int = 0
    # Its project, from its own record: whose BYONF entry its appliance boots with.
    project_id: str | None = None
    # Why no appliance can serve it: nothing is booted, it goes to ERROR with this.
    refused: str | None = None


class Driver(Protocol):
    kind: str
    naming: Naming

    def read(self, resource_id: str) -> Resource | None:
        """The resource through the clients' calls; None: it does not exist (any more)."""

    def resources(self) -> list[ResourceRef]:
        """Every resource of this kind (start-up resync, ``poll``)."""

    def project_of(self, resource_id: str) -> str | None:
        """The resource's project from its own record (None: gone): it shards the work."""

    def build(self, resource: Resource, mgmt: Management) -> ApplianceConfig:
        """Pure: the appliance's document (pydantic's ValidationError if none can be)."""

    def report(self, ref: ResourceRef, st: RouterState, decision: Decision) -> None:
        """After a step performed without error (not a terminal one): write back what
        the resource's API shows of it."""

    def refused(self, ref: ResourceRef, st: RouterState, decision: Decision,
                error: str) -> None:
        """After a step that failed (``error``): write back what that means, if anything."""

    def gone(self, ref: ResourceRef) -> None:
        """The resource and its appliance are both gone (the terminal step): release what
        had to outlive the appliance. A RemoteError retries the step."""
