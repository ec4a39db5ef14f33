"""What the reconciler keeps per router between passes, in this worker's memory.

``RouterState`` holds the plan memory, the last context observed (so a health
check needs one call), the last status written to the network API, and a
bounded record of the steps taken, for operators.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from astara.orchestrator.reconcile.model import Memory
from astara.wire.appliance_config import ApplianceConfig

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
    mgmt_address: str | None = None
    mgmt_port_id: str | None = None
    wanted_ports: tuple[str, ...] = ()
    instance_id: str | None = None
    attached_ports: frozenset[str] = frozenset()
    extra_instances: frozenset[str] = frozenset()
    floating_ips: frozenset[str] = frozenset()


@dataclass
class RouterState:
    tenant_id: str
    memory: Memory = field(default_factory=Memory)
    context: Context = field(default_factory=Context)
    status: str | None = None  # last router status written to the network API
    healthy: bool = False  # last pass ended in Alive
    steps: collections.deque = field(default_factory=lambda: collections.deque(maxlen=MAX_STEPS))
    force_rebuild: bool = False
    # Left alone in debug mode: whoever debugged it (astara-debug-router) may have changed
    # the stored memory and the appliance, so the next pass re-reads and looks again.
    stale: bool = False
