"""What the reconciler keeps per router between passes, in this worker's memory.

``RouterState`` holds the plan memory, the last context observed (so a health
check needs one call), the last status written to the network API, and a
bounded record of the steps taken, for operators.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from astara.orchestrator.reconcile.model import Memory
from astara.wire.appliance_config import ApplianceConfig
from astara.wire.appliance_status import ApplianceStatus

if TYPE_CHECKING:
    from astara.orchestrator.byonf import BootSpec

MAX_STEPS = 50


@dataclass(frozen=True)
class StepRecord:
    at: float
    step: str
    status: str
    reason: str
    outcome: str
    after: float
    error: str | None = None


@dataclass
class Context:
    """The parts of a full observation a health check reuses."""

    desired: ApplianceConfig | None = None
    # ``desired.digest()``, computed once per full observation: a health check compares
    # it with the appliance's reported digest without serialising the document again.
    desired_digest: str | None = None
    model_fingerprint: str | None = None  # of the model ``desired`` was built from
    mgmt_address: str | None = None
    mgmt_port_id: str | None = None
    wanted_ports: tuple[str, ...] = ()
    instance_id: str | None = None
    attached_ports: frozenset[str] = frozenset()
    extra_instances: frozenset[str] = frozenset()
    floating_ips: frozenset[str] = frozenset()
    # Tenant ports to report ACTIVE once the appliance holds ``desired``
    # (``drivers.port_status``); emptied as they are reported.
    activate: tuple[str, ...] = ()
    # What its driver kept of the resource read when ``desired`` was built from it
    # (``drivers.base.Resource.kept``): its ``report`` may need more than the document.
    kept: Any = None
    # The generation a new appliance is booted for (``drivers.base.Resource``).
    generation: int = 0
    # The image and flavor (``orchestrator.byonf.BootSpec``) the next boot uses, chosen
    # by the full look that found no instance; None: the compute client's defaults.
    boot: BootSpec | None = None
    host_id: str | None = None  # the instance's ``hostId`` (an HA pair's anti-affinity)
    # The pair's server group a boot joins (``router_ha.boot_hints``): this look found
    # the router HA (member 0 of a router HA from its creation too); None: single.
    pair_group: str | None = None


class Resume(NamedTuple):
    """What a restarted worker needs to health-check a router before reading the network
    and compute APIs (persisted with the plan memory while the router is healthy)."""

    instance_id: str
    mgmt_address: str
    desired_digest: str
    mgmt_port_id: str | None
    wanted_ports: tuple[str, ...]
    floating_ips: tuple[str, ...]

    @classmethod
    def of(cls, ctx: Context) -> Resume | None:
        if ctx.instance_id is None or ctx.mgmt_address is None or ctx.desired_digest is None:
            return None
        return cls(ctx.instance_id, ctx.mgmt_address, ctx.desired_digest, ctx.mgmt_port_id,
                   tuple(ctx.wanted_ports), tuple(sorted(ctx.floating_ips)))

    def context(self) -> Context:
        """No document (``desired`` is None): only a full look builds one again."""
        return Context(desired_digest=self.desired_digest, mgmt_address=self.mgmt_address,
                       mgmt_port_id=self.mgmt_port_id, wanted_ports=self.wanted_ports,
                       instance_id=self.instance_id,
                       attached_ports=frozenset(self.wanted_ports),
                       floating_ips=frozenset(self.floating_ips))


# A router's row in the store: plan memory, last status written, what to resume from.
Saved = tuple[Memory, str | None, Resume | None]


@dataclass
class RouterState:
    """One resource's state in this worker (a router's, or another kind's)."""

    tenant_id: str
    kind: str = "router"
    memory: Memory = field(default_factory=Memory)
    context: Context = field(default_factory=Context)
    status: str | None = None  # last router status written to the network API
    healthy: bool = False  # last pass ended in Alive
    steps: collections.deque = field(default_factory=lambda: collections.deque(maxlen=MAX_STEPS))
    force_rebuild: bool = False
    # ``force_rebuild`` was asked by the split-brain judgement (automatic), not an operator.
    split_brain_rebuild: bool = False
    # Left alone in debug mode: whoever debugged it (astara-debug-router) may have changed
    # the stored memory and the appliance, so the next pass re-reads and looks again.
    stale: bool = False
    # The latest status call to its working (not booting) appliance: (when, answered).
    # The parent judges the rebuild breaker from every router's (``breaker_board``).
    last_check: tuple[float, bool] | None = None
    # The context was resumed from the store after a restart: one health check may use
    # it; the look after that reads the network and compute APIs again.
    resumed: bool = False
    # What the store holds for this router's context, and the context it was taken from.
    saved_resume: Resume | None = None
    saved_from: Context | None = None
    # The latest status document its appliance answered, and what the driver last wrote
    # back from it (a load balancer's statuses: written again only when they change).
    report: ApplianceStatus | None = None
    reported: Any = None
    # An HA router's member 1: the instances its boot should keep away from (member 0's).
    avoid: tuple[str, ...] = ()
    # An HA router's member 0: the pair as last judged (``drivers.router_ha``), for views.
    pair: dict | None = None
    # The instance whose replacement the rebuild breaker admitted last: deciding it again
    # is not charged to the budget again (cleared once the router is healthy).
    rebuild_admitted: str | None = None
    # The last pass was refused by the cluster fence (this member does not hold the
    # resource's lease): nothing was done, and nothing of it may be stored.
    fenced: bool = False
    # The lease epoch this member's tenure was last recorded under at the appliance (a
    # push, or ``record_tenure`` on adoption): told once per epoch.
    told_epoch: int | None = None
