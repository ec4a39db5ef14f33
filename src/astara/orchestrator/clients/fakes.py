"""In-tree fakes of the remote systems, recording every call as a tuple.

They behave like the real services closely enough for the reconciler: a booted
instance turns ACTIVE after ``boot_polls`` finds, an appliance answers once its
instance is ACTIVE and reports the digest of the last config pushed to it.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field

from astara.orchestrator.byonf import BootSpec
from astara.orchestrator.clients.base import ConfigRefused, Fenced, NotKnown, RemoteError
from astara.orchestrator.clients.router_model import RouterModel
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import Appliance, ApplianceIdentity, Failure, Instance
from astara.wire.appliance_config import ApplianceConfig
from astara.wire.appliance_status import ApplianceStatus, HaStatus, LoadBalancerHealth
from astara.wire.tenure import Tenure, refusal

_ids = itertools.count(1)


@dataclass
class FakeNetwork:
    models: dict[str, RouterModel] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    mgmt_ports: dict[str, dict] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    refuse_ports: set[str] = field(default_factory=set)  # their status update fails
    port_status_read_only: bool = False  # as a real Neutron: no port status written
    # Any other object by (collection, id), as ``show`` returns it.
    objects: dict[tuple[str, str], dict] = field(default_factory=dict)
    # Collections ``list`` reads (e.g. "byonfs"), as the API would list them.
    collections: dict[str, list[dict]] = field(default_factory=dict)
    ports: dict[str, dict] = field(default_factory=dict)  # HA members' ports, by id
    unlisted: set[str] = field(default_factory=set)  # routers a short list leaves out

    def router_model(self, router_id: str) -> RouterModel | None:
        self.calls.append(("router_model", router_id))
        return self.models.get(router_id)

    def routers(self) -> list[ResourceRef]:
        self.calls.append(("routers",))
        return [ResourceRef("router", rid, m.router.get("project_id", ""))
                for rid, m in sorted(self.models.items()) if rid not in self.unlisted]

    def router_project(self, router_id: str) -> str | None:
        self.calls.append(("router_project", router_id))
        m = self.models.get(router_id)
        return None if m is None else str(m.router.get("project_id") or "")

    def show(self, collection: str, id_: str) -> dict | None:
        self.calls.append(("show", collection, id_))
        return self.objects.get((collection, id_))

    def list(self, collection: str, **filters: str | list[str]) -> list[dict]:
        self.calls.append(("list", collection, tuple(sorted(filters.items()))))

        def matches(item: dict) -> bool:
            for key, wanted in filters.items():
                value = item.get("project_id" if key == "tenant_id" else key)
                if value not in (wanted if isinstance(wanted, list) else [wanted]):
                    return False
            return True

        return [copy.deepcopy(x) for x in self.collections.get(collection, []) if matches(x)]

    def routers_on_network(self, network_id: str) -> list[ResourceRef]:
        self.calls.append(("routers_on_network", network_id))
        return [ResourceRef("router", rid, m.router.get("project_id", ""))
                for rid, m in sorted(self.models.items())
                if any(p["network_id"] == network_id for p in m.ports)]

    def set_router_status(self, router_id: str, status: str) -> None:
        self.calls.append(("set_router_status", router_id, status))
        self.statuses[router_id] = status

    def set_port_status(self, port_id: str, status: str) -> bool:
        self.calls.append(("set_port_status", port_id, status))
        if port_id in self.refuse_ports:
            raise RemoteError(f"port {port_id}: status update refused")
        if self.port_status_read_only:  # a real Neutron's: its ports stay as they are
            return False
        for m in self.models.values():  # every router's model shows the port's new status
            for p in m.tenant_ports:
                if p["id"] == port_id:
                    p["status"] = status
        return True

    def management_port(self, router_id: str, create: bool, absent: bool = False
                        ) -> dict | None:
        self.calls.append(("management_port", router_id, create))
        if router_id not in self.mgmt_ports and create:
            n = next(_ids)
            mac = f"fa:16:3e:ff:{n // 256:02x}:{n % 256:02x}"
            self.mgmt_ports[router_id] = {
                "id": f"mgmt-{router_id}", "mac_address": mac,
                "fixed_ips": [{"ip_address": f"fdca::{n:x}", "subnet_id": "mgmt-subnet"}]}
        return self.mgmt_ports.get(router_id)

    def management_device_ids(self) -> list[str]:
        self.calls.append(("management_device_ids",))
        return sorted(self.mgmt_ports)

    def ha_ports(self, member_id: str) -> list[dict]:
        self.calls.append(("ha_ports", member_id))
        return [copy.deepcopy(p) for p in self.ports.values() if p["device_id"] == member_id]

    def create_ha_port(self, member_id: str, network_id: str) -> dict:
        self.calls.append(("create_ha_port", member_id, network_id))
        n = next(_ids)
        port = {"id": f"ha-{n}", "network_id": network_id, "device_id": member_id,
                "mac_address": f"fa:16:3e:ee:{n // 256:02x}:{n % 256:02x}", "fixed_ips": []}
        self.ports[port["id"]] = port
        return copy.deepcopy(port)

    def delete_port(self, port_id: str) -> None:
        self.calls.append(("delete_port", port_id))
        self.ports.pop(port_id, None)

    def delete_management_port(self, router_id: str) -> None:
        self.calls.append(("delete_management_port", router_id))
        self.mgmt_ports.pop(router_id, None)


@dataclass
class FakeServer:
    id: str
    router_id: str  # the resource's id, whatever its kind
    ports: set[str]
    name: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "BUILD"
    polls: int = 0
    deleting: bool = False
    request_id: str = ""
    image: str = "default-image"  # what it was booted from (a BootSpec's, or these)
    flavor: str = "default-flavor"
    host: str = "host-1"


@dataclass
class FakeCompute:
    boot_polls: int = 1
    fail_boots: bool = False
    servers: dict[str, FakeServer] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    # What the compute API knows; None: any image or flavor.
    images: set[str] | None = None
    flavors: set[str] | None = None
    hosts: tuple[str, ...] = ("host-1",)  # placement: away from different_host if it can
    # server groups by name: their members (placement keeps a boot away from them), ids
    groups: dict[str, list[str]] = field(default_factory=dict)
    group_ids: dict[str, str] = field(default_factory=dict)
    has_groups: bool = True  # False: a compute API without os-server-groups
    # True: an attach or detach is queued (as the real API's job for the host) and seen
    # only after ``finish_replugs``.
    queue_replugs: bool = False
    queued: list[tuple[str, str, str]] = field(default_factory=list)

    def missing(self, image: str, flavor: str) -> str | None:
        self.calls.append(("missing", image, flavor))
        return self._missing(image, flavor)

    def _missing(self, image: str, flavor: str) -> str | None:
        if self.images is not None and image not in self.images:
            return f"no image named {image!r} in the compute service"
        if self.flavors is not None and flavor not in self.flavors:
            return f"no flavor named {flavor!r} in the compute service"
        return None

    def find(self, who: ApplianceIdentity, macs: dict[str, str]) -> Instance | None:
        self.calls.append(("find", who.resource_id))
        for s in [s for s in self.servers.values() if self._of(s, who) and s.deleting]:
            del self.servers[s.id]  # the agent confirmed the delete
        mine = sorted((s for s in self.servers.values() if self._of(s, who)),
                      key=lambda s: s.id)
        if not mine:
            return None
        s = mine[-1]
        s.polls += 1
        if s.status == "BUILD" and s.polls > self.boot_polls:
            s.status = "ERROR" if self.fail_boots else "ACTIVE"
        return Instance(s.id, s.status, frozenset(s.ports & set(macs.values())),
                        extras=frozenset(x.id for x in mine[:-1]),
                        generation=who.generation_of(s.metadata), host_id=s.host)

    @staticmethod
    def _of(s: FakeServer, who: ApplianceIdentity) -> bool:
        return s.router_id == who.resource_id and s.name == who.name \
            and s.metadata.get(who.metadata_key) == who.resource_id

    def boot(self, who: ApplianceIdentity, port_ids: list[str], request_id: str = "",
             spec: BootSpec | None = None, different_host: tuple[str, ...] = (),
             group: str | None = None) -> str:
        self.calls.append(("boot", who.resource_id, tuple(port_ids)))
        if different_host:
            self.calls.append(("different_host", who.resource_id, different_host))
        if group:
            self.calls.append(("group", who.resource_id, group))
        if spec is not None and (why := self._missing(spec.image, spec.flavor)):
            raise NotKnown(f"boot refused: {why}")
        for s in self.servers.values():
            if request_id and s.request_id == request_id:
                return s.id  # a retried request: the same instance
        sid = f"server-{next(_ids)}"
        named = next((n for n, g in self.group_ids.items() if g == group), None)
        members = self.groups.get(named, []) if named is not None else []
        taken = {x.host for x in self.servers.values()
                 if x.id in different_host or (x.id in members and not x.deleting)}
        host = next((h for h in self.hosts if h not in taken), self.hosts[0])
        self.servers[sid] = FakeServer(sid, who.resource_id, set(port_ids), who.name,
                                       who.metadata, request_id=request_id, host=host)
        if spec is not None:
            self.servers[sid].image, self.servers[sid].flavor = spec.image, spec.flavor
        if group:
            self.groups[next(n for n, g in self.group_ids.items() if g == group)].append(sid)
        return sid

    def server_group(self, name: str, create: bool) -> tuple[str, tuple[str, ...]] | None:
        self.calls.append(("server_group", name, create))
        if name not in self.groups and create and self.has_groups:
            self.groups[name], self.group_ids[name] = [], f"group-{next(_ids)}"
        if name not in self.groups:
            return None
        live = tuple(x for x in self.groups[name]
                     if x in self.servers and not self.servers[x].deleting)
        return self.group_ids[name], live

    def delete_server_group(self, name: str) -> None:
        self.calls.append(("delete_server_group", name))
        self.groups.pop(name, None)
        self.group_ids.pop(name, None)

    def delete(self, instance_id: str) -> None:
        self.calls.append(("delete", instance_id))
        if instance_id in self.servers:
            self.servers[instance_id].deleting = True

    def named(self, pattern: str, metadata_key: str) -> dict[str, list[str]]:
        self.calls.append(("named", pattern))
        out: dict[str, list[str]] = {}
        for s in self.servers.values():
            if re.search(pattern, s.name) and metadata_key in s.metadata and not s.deleting:
                out.setdefault(s.metadata[metadata_key], []).append(s.id)
        return out

    def attach(self, instance_id: str, port_id: str) -> None:
        self.calls.append(("attach", instance_id, port_id))
        self._replug("attach", instance_id, port_id)

    def detach(self, instance_id: str, port_id: str) -> None:
        self.calls.append(("detach", instance_id, port_id))
        self._replug("detach", instance_id, port_id)

    def _replug(self, op: str, instance_id: str, port_id: str) -> None:
        self.servers[instance_id]  # noqa: B018 (an unknown server fails as the API's 404)
        self.queued.append((op, instance_id, port_id))
        if not self.queue_replugs:
            self.finish_replugs()

    def finish_replugs(self) -> None:
        """The host's jobs done: the servers list the ports attached, not those detached."""
        for op, instance_id, port_id in self.queued:
            ports = self.servers[instance_id].ports
            ports.add(port_id) if op == "attach" else ports.discard(port_id)
        self.queued.clear()


@dataclass
class FakeAppliances:
    """Appliances by management address; ``compute`` decides which are running."""

    compute: FakeCompute
    mgmt_of: dict[str, str] = field(default_factory=dict)  # address -> router id
    applied: dict[str, ApplianceConfig] = field(default_factory=dict)
    applied_digest: dict[str, str] = field(default_factory=dict)
    unhealthy: set[str] = field(default_factory=set)
    refuse: bool = False
    # Running appliances whose status call fails (a hiccup): they still forward and
    # answer the probe; ``mute`` ones answer nothing at all.
    hiccup: set[str] = field(default_factory=set)
    mute: set[str] = field(default_factory=set)
    roles: dict[str, str] = field(default_factory=dict)  # an HA member's VRRP role
    # What a load balancer appliance reports of its listeners, pools and members.
    lb_health: dict[str, LoadBalancerHealth] = field(default_factory=dict)
    tenures: dict[str, Tenure] = field(default_factory=dict)  # appliance id -> highest
    calls: list[tuple] = field(default_factory=list)

    def _running(self, address: str, appliance_id: str) -> bool:
        # Only the instance booted for the router answers, and only to its own id
        # (a real appliance refuses another appliance's secret).
        s = self.compute.servers.get(appliance_id)
        return s is not None and s.router_id == self.mgmt_of.get(address) \
            and s.status == "ACTIVE" and not s.deleting

    def status(self, address: str, appliance_id: str) -> Appliance:
        self.calls.append(("status", address))
        if not self._running(address, appliance_id):
            self.applied.pop(address, None)
            self.applied_digest.pop(address, None)
            return Appliance(reachable=False, failure=Failure.UNREACHABLE)
        if address in self.mute:
            return Appliance(reachable=False, failure=Failure.TIMEOUT)
        if address in self.hiccup:
            return Appliance(reachable=False, failure=Failure.ERROR, http_status=503)
        # Like the agent, it reports the digest of the config it applied, hashed once.
        return Appliance(True, self.applied_digest.get(address), address not in self.unhealthy,
                         report=self._report(address))

    def _report(self, address: str) -> ApplianceStatus:
        doc = self.applied.get(address)
        ha = HaStatus(role=self.roles.get(address, "unknown"), sync="running") \
            if doc is not None and doc.ha.enabled else None
        return ApplianceStatus(config_digest=self.applied_digest.get(address),
                               loadbalancer=self.lb_health.get(address), ha=ha)

    def probe(self, address: str, appliance_id: str) -> bool:
        self.calls.append(("probe", address))
        return self._running(address, appliance_id) and address not in self.mute

    def record_tenure(self, address: str, appliance_id: str, tenure: Tenure) -> None:
        self.calls.append(("tenure", address, tenure.epoch))
        if not self._running(address, appliance_id):
            raise RemoteError(f"appliance {address} unreachable")
        why = refusal(self.tenures.get(appliance_id), tenure)
        if why is not None:
            raise Fenced(f"appliance {address}: {why}", self.tenures[appliance_id].epoch)
        if appliance_id not in self.tenures or tenure.epoch > self.tenures[appliance_id].epoch:
            self.tenures[appliance_id] = tenure

    def push(self, address: str, appliance_id: str, config: ApplianceConfig,
             tenure: Tenure | None = None) -> None:
        digest = config.digest()
        self.calls.append(("push", address, digest))
        if not self._running(address, appliance_id):
            raise RemoteError(f"appliance {address} unreachable")
        # Like the agent: the highest epoch accepted per appliance (wire.tenure).
        why = refusal(self.tenures.get(appliance_id), tenure)
        if why is not None:
            raise Fenced(f"appliance {address}: {why}", self.tenures[appliance_id].epoch)
        if tenure is not None and (appliance_id not in self.tenures
                                   or tenure.epoch > self.tenures[appliance_id].epoch):
            self.tenures[appliance_id] = tenure
        if self.refuse:
            raise ConfigRefused(f"appliance {address} refused the config: 400 invalid")
        self.applied[address] = config
        self.applied_digest[address] = digest
        self.unhealthy.discard(address)


@dataclass
class FakeLoadBalancers:
    """The load-balancer API's admin endpoints. ``models`` holds each load balancer's
    model as ``GET .../model`` answers it; ``statuses`` what the orchestrator wrote, by
    object id, applied as the service does: operating statuses always, provisioning
    statuses only when the write names the current revision, ids not under the load
    balancer ignored."""

    models: dict[str, dict] = field(default_factory=dict)
    statuses: dict[str, dict[str, dict]] = field(default_factory=dict)
    writes: list[tuple[str, dict]] = field(default_factory=list)
    calls: list[tuple] = field(default_factory=list)
    down: bool = False  # every call fails as an unreachable service's
    # Deleted load balancers whose VIP port is kept (id -> project), and those released.
    kept_vips: dict[str, str] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    release_fails: bool = False  # the network API refuses the port's deletion

    def _check(self) -> None:
        if self.down:
            raise RemoteError("load-balancer API unreachable")

    def delete(self, lb_id: str) -> None:
        """A delete through the API: the model gone, its VIP port kept."""
        body = self.models.pop(lb_id)
        self.kept_vips[lb_id] = body["loadbalancer"].get("project_id", "")

    def vip_ports(self) -> list[ResourceRef]:
        self.calls.append(("vip_ports",))
        self._check()
        return [ResourceRef("loadbalancer", i, p) for i, p in sorted(self.kept_vips.items())]

    def release_vip_ports(self, lb_id: str) -> None:
        self.calls.append(("release_vip_ports", lb_id))
        self._check()
        if lb_id in self.models:
            raise RemoteError(f"load-balancer API: 409 Load Balancer {lb_id} still exists")
        if self.release_fails and lb_id in self.kept_vips:
            raise RemoteError(f"load-balancer API: 409 VIP port of {lb_id} not deleted yet")
        if self.kept_vips.pop(lb_id, None) is not None:
            self.released.append(lb_id)

    def model(self, lb_id: str) -> dict | None:
        self.calls.append(("model", lb_id))
        self._check()
        body = self.models.get(lb_id)
        return copy.deepcopy(body) if body is not None else None

    def change(self, lb_id: str, **lists: list[dict]) -> int:
        """A write through the API: new lists of objects, the revision bumped, the
        changed load balancer PENDING_UPDATE. Returns the new revision."""
        body = self.models[lb_id]
        body.update(lists)
        body["revision"] += 1
        self.statuses.setdefault(lb_id, {}).setdefault(lb_id, {})[
            "provisioning_status"] = "PENDING_UPDATE"
        return body["revision"]

    def write_statuses(self, lb_id: str, body: dict) -> None:
        self.calls.append(("write_statuses", lb_id, body["revision"]))
        self._check()
        self.writes.append((lb_id, copy.deepcopy(body)))
        model = self.models.get(lb_id)
        if model is None:
            return
        current = body["revision"] == model["revision"]
        under = {lb_id} | {o["id"] for k in ("listeners", "pools", "members",
                                               "healthmonitors") for o in model.get(k, [])}
        entries = [{"id": lb_id, **body.get("loadbalancer", {})}] + [
            e for k in ("listeners", "pools", "members", "healthmonitors")
            for e in body.get(k, [])]
        table = self.statuses.setdefault(lb_id, {})
        for entry in entries:
            if entry["id"] not in under:
                continue
            row = table.setdefault(entry["id"], {})
            if "operating_status" in entry:
                row["operating_status"] = entry["operating_status"]
            if current and "provisioning_status" in entry:
                row["provisioning_status"] = entry["provisioning_status"]

    def loadbalancers(self) -> list[ResourceRef]:
        self.calls.append(("loadbalancers",))
        self._check()
        return [ResourceRef("loadbalancer", lb_id, m["loadbalancer"].get("project_id", ""))
                for lb_id, m in sorted(self.models.items())]

    def project_of(self, lb_id: str) -> str | None:
        self.calls.append(("project_of", lb_id))
        self._check()
        m = self.models.get(lb_id)
        return None if m is None else str(m["loadbalancer"].get("project_id") or "")
