"""The plain data ``plan()`` decides on: what was observed, what is remembered, settings.

Everything here is a frozen value built by the observer (I/O) and read by the
pure planner; nothing here talks to anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from astara.wire.appliance_status import ApplianceStatus


class Step(enum.StrEnum):
    CALC_ACTION = "CalcAction"
    ALIVE = "Alive"
    CREATE_VM = "CreateVM"
    CHECK_BOOT = "CheckBoot"
    CONFIGURE_VM = "ConfigureVM"
    REPLUG_VM = "ReplugVM"
    STOP_VM = "StopVM"
    CLEAR_ERROR = "ClearError"
    READ_STATS = "ReadStats"
    EXIT = "Exit"


class Status(enum.StrEnum):
    DOWN = "down"
    BOOTING = "booting"
    UP = "up"
    CONFIGURED = "configured"
    RESTART = "restart"
    REPLUG = "replug"
    GONE = "gone"
    ERROR = "error"
    DEGRADED = "degraded"

    @property
    def neutron(self) -> str:
        """The router ``status`` the network API shows for it."""
        return {
            Status.CONFIGURED: "ACTIVE", Status.DEGRADED: "ACTIVE", Status.ERROR: "ERROR",
            Status.DOWN: "DOWN", Status.GONE: "DOWN",
        }.get(self, "BUILD")


class OutcomeKind(enum.StrEnum):
    DONE = "done"  # nothing more until something changes
    REQUEUE = "requeue"  # look again after `after` seconds
    RETRY = "retry"  # failed: back off
    TERMINAL = "terminal"  # the resource is gone: forget it


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    after: float = 0.0


@dataclass(frozen=True)
class ApplianceIdentity:
    """How the compute API knows one resource's appliance instance: its name and the
    metadata key holding the resource's id (each driver names its kind's appliances)."""

    resource_id: str
    name: str
    metadata_key: str
    # A kind whose appliances are replaced on request (a load balancer's failover)
    # records in this metadata key the generation an instance was booted for.
    generation_key: str | None = None
    generation: int = 0

    @property
    def metadata(self) -> dict[str, str]:
        out = {self.metadata_key: self.resource_id}
        if self.generation_key is not None and self.generation > 0:  # 0: none recorded
            out[self.generation_key] = str(self.generation)
        return out

    def generation_of(self, metadata: dict) -> int:
        """The generation an instance's metadata records (0: none, or not a number)."""
        value = metadata.get(self.generation_key) if self.generation_key else None
        return int(value) if isinstance(value, str) and value.isdigit() else 0


@dataclass(frozen=True)
class Instance:
    id: str
    status: str  # Nova status: BUILD, ACTIVE, SHUTOFF, REBOOT, ERROR, DELETED
    ports: frozenset[str] = frozenset()
    deleting: bool = False
    extras: frozenset[str] = frozenset()  # more instances for one router: to remove
    generation: int = 0  # what it was booted for (``ApplianceIdentity.generation``)
    host_id: str | None = None  # Nova's ``hostId``: equal for two instances on one host


class Failure(enum.StrEnum):
    """How a status call failed: what the operator reads, not what the plan decides on."""

    UNREACHABLE = "unreachable"  # no connection (refused, no route, connect timeout)
    TIMEOUT = "timeout"  # connected, no answer in time
    ERROR = "error"  # answered, but not 200 (a 5xx)


@dataclass(frozen=True)
class Appliance:
    reachable: bool
    config_digest: str | None = None
    healthy: bool = True
    failure: Failure | None = None  # why it is not reachable
    http_status: int | None = None  # with Failure.ERROR
    # A second look, taken only when the status call failed: does the appliance still
    # answer on its management address (its interfaces endpoint, or at least a connect)?
    answers_probe: bool | None = None
    # The status document it answered (a load balancer's operating statuses are in it).
    report: ApplianceStatus | None = field(default=None, compare=False, repr=False)

    def why(self) -> str:
        if self.failure is Failure.ERROR and self.http_status is not None:
            return f"status answered {self.http_status}"
        return str(self.failure or "unreachable")


@dataclass(frozen=True)
class Memory:
    """What the orchestrator remembers about one router between passes (persisted)."""

    failed_boots: int = 0
    boots: int = 0  # CreateVM steps taken: names each boot request (idempotent retries)
    boot_started: float | None = None
    # When this boot's instance was first seen ACTIVE: boot_timeout counts from there.
    active_since: float | None = None
    error_until: float | None = None
    error_count: int = 0
    last_error: str | None = None
    # Failed status calls in a row (one per pass) and when the first of them was.
    silent_count: int = 0
    silent_since: float | None = None
    # The ports wanted when the last ReplugVM asked the compute API for its attaches and
    # detaches, and when: they are queued on the host, so until its event says done a
    # look still shows them missing; asked again only if the ports wanted change or
    # after ``REPLUG_WAIT``.
    replug_ports: tuple[str, ...] = ()
    replug_asked: float | None = None


@dataclass(frozen=True)
class Observed:
    exists: bool  # the router exists in the network API
    admin_up: bool = True
    desired_digest: str | None = None  # None: no valid config can be built yet
    wanted_ports: frozenset[str] = frozenset()
    instance: Instance | None = None
    appliance: Appliance | None = None
    debug: bool = False
    force_rebuild: bool = False
    # The rebuild asked for is the orchestrator's own (an HA pair's split brain), not an
    # operator's: the breaker rations it.
    split_brain: bool = False
    # The instance was booted for an older generation than the resource's (a load
    # balancer failed over since): it is replaced.
    outdated: bool = False
    memory: Memory = field(default_factory=Memory)
    now: float = 0.0
    # Looked at only when there is no instance: why a boot cannot succeed (the image or
    # flavor it would use is not known to the compute API), or None.
    boot_problem: str | None = None


# Not options: how often a booting appliance is looked at, and the cap on the
# doubling cooldown of a router in ERROR.
BOOT_CHECK_INTERVAL = 0.5
# How long an attach or detach asked of the compute API is waited for before it is
# asked again (its host queues it behind other jobs; it names no failure of its own).
REPLUG_WAIT = 10.0
MAX_ERROR_COOLDOWN = 3600.0


@dataclass(frozen=True)
class Settings:
    """The planner's settings, built from the ``[orchestrator]`` options by
    ``orchestrator.opts.plan_settings`` (no defaults here: an option's default is
    written once, in the option; ``orchestrator.opts.plan_defaults()`` for tests)."""

    boot_timeout: float
    build_timeout: float
    boot_check_interval: float
    reboot_error_threshold: int
    error_cooldown: float
    max_error_cooldown: float
    health_check_period: float
    # A working appliance is replaced only after this many failed status calls spread
    # over at least this many seconds, and only if it no longer answers a second probe.
    appliance_failure_threshold: int
    appliance_failure_period: float


class Rebuild(enum.StrEnum):
    """Why a decision replaces a booted appliance: the rebuild breaker
    (``reconcile.breaker``) holds back the kinds our own path could explain."""

    SILENT = "silent"  # its status calls failed: it, or our way to it
    BOOT_TIMEOUT = "boot-timeout"  # it never answered after boot: ditto
    INSTANCE = "instance"  # the compute API says ERROR or SHUTOFF: a real failure
    OPERATOR = "operator"  # ``astara-ctl router rebuild``: always goes through
    # an HA pair's member restarted for a split brain: automatic, rationed by the budget
    SPLIT_BRAIN = "split-brain"


@dataclass(frozen=True)
class Decision:
    step: Step
    status: Status
    outcome: Outcome
    reason: str
    memory: Memory
    rebuild: Rebuild | None = None  # set when the step replaces a booted appliance
