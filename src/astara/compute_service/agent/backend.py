"""What the agent asks of a hypervisor: the ``Backend`` Protocol and its in-tree fake.

An ``InstanceSpec`` is the job's self-contained description of an instance. Every
operation is idempotent: ``create`` on an existing instance only fills what is
missing, ``delete`` of an absent one succeeds. ``observe`` reports what actually
runs (for reconcile and restart adoption). ``netns.NetnsBackend`` is the real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class InstanceSpec:
    id: str
    name: str
    profile: str
    ports: tuple[dict, ...] = ()
    hostname: str = ""

    @classmethod
    def from_job(cls, spec: dict[str, Any]) -> InstanceSpec:
        return cls(id=spec["id"], name=spec.get("name", ""),
                   profile=spec.get("profile", "tenant"),
                   ports=tuple(spec.get("ports", ())), hostname=spec.get("hostname", ""))


@dataclass(frozen=True)
class Observed:
    """One instance as the host sees it."""

    id: str
    running: bool
    ports: tuple[str, ...] = ()  # the MAC address of each plugged interface
    profile: str = "tenant"
    missing: tuple[str, ...] = ()  # processes of a running instance that are not running
    # MACs of the plugged interfaces whose anti-spoofing filter is loaded (None: the
    # backend does not filter, so nothing is ever missing)
    filtered: tuple[str, ...] | None = None
    # (MAC, IP) of the management addresses pinned on both sides (``neighbours``; None:
    # the backend pins nothing, so nothing is ever missing)
    pinned: tuple[tuple[str, str], ...] | None = None


class BackendError(Exception):
    """A step failed; the message goes to the job log and the instance fault."""


class Backend(Protocol):
    def create(self, spec: InstanceSpec) -> str:
        """Build and start the instance; return console text."""

    def delete(self, spec: InstanceSpec) -> None: ...

    def start(self, spec: InstanceSpec) -> None: ...

    def stop(self, spec: InstanceSpec) -> None: ...

    def attach(self, spec: InstanceSpec, port: dict) -> None: ...

    def detach(self, spec: InstanceSpec, port: dict) -> None: ...

    def link_up(self, spec: InstanceSpec, port_ids: tuple[str, ...]) -> str:
        """These ports are wired and their DHCP can answer (``vif_plugged``): an unbound
        DHCP client asks again now. A no-op for an appliance or an instance not here;
        return what was done (the job's log)."""

    def observe(self) -> dict[str, Observed]: ...


def _mac(port: dict) -> str:
    return str(port.get("mac_address", "")).lower()


@dataclass
class FakeBackend:
    """Instances in memory; ``actions`` records (op, instance id) in order,
    ``links_up`` the (instance id, port ids) of each ``link_up``."""

    instances: dict[str, Observed] = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)  # ops that raise BackendError
    links_up: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def _act(self, op: str, spec: InstanceSpec) -> None:
        self.actions.append((op, spec.id))
        if op in self.fail:
            raise BackendError(f"{op} failed (fake)")

    def create(self, spec: InstanceSpec) -> str:
        self._act("create", spec)
        ports = tuple(_mac(p) for p in spec.ports)
        self.instances[spec.id] = Observed(spec.id, True, ports, spec.profile)
        return f"{spec.name} booted (fake)"

    def delete(self, spec: InstanceSpec) -> None:
        self._act("delete", spec)
        self.instances.pop(spec.id, None)

    def start(self, spec: InstanceSpec) -> None:
        self._act("start", spec)
        self._set(spec.id, running=True)

    def stop(self, spec: InstanceSpec) -> None:
        self._act("stop", spec)
        self._set(spec.id, running=False)

    def attach(self, spec: InstanceSpec, port: dict) -> None:
        self._act("attach", spec)
        cur = self._require(spec.id)
        if _mac(port) not in cur.ports:
            self.instances[spec.id] = Observed(spec.id, cur.running,
                                               cur.ports + (_mac(port),), cur.profile)

    def detach(self, spec: InstanceSpec, port: dict) -> None:
        self._act("detach", spec)
        cur = self._require(spec.id)
        self.instances[spec.id] = Observed(
            spec.id, cur.running, tuple(m for m in cur.ports if m != _mac(port)),
            cur.profile)

    def link_up(self, spec: InstanceSpec, port_ids: tuple[str, ...]) -> str:
        self._act("link_up", spec)
        self.links_up.append((spec.id, tuple(port_ids)))
        return "link up (fake)" if spec.id in self.instances else "not on this host"

    def observe(self) -> dict[str, Observed]:
        return dict(self.instances)

    def _require(self, instance_id: str) -> Observed:
        if instance_id not in self.instances:
            raise BackendError(f"instance {instance_id} is not on this host")
        return self.instances[instance_id]

    def _set(self, instance_id: str, running: bool) -> None:
        cur = self._require(instance_id)
        self.instances[instance_id] = Observed(instance_id, running, cur.ports, cur.profile)
