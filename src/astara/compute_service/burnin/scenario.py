"""The burn-in scenario (after Synnefo's snf-burnin): the public APIs, end to end.

``BurnIn.run`` walks the steps in order, each timed in a ``Report``: identity is
required, flavors and images are listed, a network is created (run-id name), a
tenant instance goes BUILD -> ACTIVE within the warn/fail limits, answers ping from
a ``Probe`` namespace on the network's bridge, stops (SHUTOFF, silent) and starts
again (ACTIVE, answers), gets its metadata, a second instance is pinged from inside
the first one's namespace, and both are deleted until gone. After the first failure
the remaining steps are skipped; cleanup always runs. ``stale``/``delete_stale``
find and remove what interrupted runs left (servers and networks named with the
prefix, probe namespaces).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from astara.compute_service.burnin.client import ApiClient
from astara.compute_service.burnin.probe import Probe


class StepFailed(Exception):
    pass


@dataclass
class Step:
    name: str
    status: str = "skipped"  # ok | warn | fail | skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class Limits:
    build_warning: float = 10.0
    build_fail: float = 60.0
    action_warning: float = 10.0
    action_fail: float = 60.0
    ping_timeout: float = 30.0
    poll: float = 0.1


@dataclass
class Report:
    run_id: str
    steps: list[Step] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "warn") for s in self.steps)

    def run(self, name: str, fn: Callable[[], str | None], warn_after: float | None = None,
            always: bool = False) -> None:
        failed = not self.ok
        step = Step(name)
        self.steps.append(step)
        if failed and not always:
            step.detail = "skipped after an earlier failure"
            return
        start = self.clock()
        try:
            step.detail = fn() or ""
            step.status = "ok"
        except Exception as exc:  # every failure is reported, never raised
            step.status, step.detail = "fail", f"{type(exc).__name__}: {exc}"
        step.seconds = round(self.clock() - start, 3)
        if step.status == "ok" and warn_after is not None and step.seconds > warn_after:
            step.status = "warn"
            step.detail = (step.detail + f" (slower than {warn_after}s)").strip()

    def summary(self) -> dict:
        return {"run_id": self.run_id, "ok": self.ok,
                "total_seconds": round(sum(s.seconds for s in self.steps), 3),
                "steps": [asdict(s) for s in self.steps]}

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2)


class BurnIn:
    def __init__(self, api: ApiClient, run_id: str, probe_factory: Callable[[dict, dict], Probe],
                 limits: Limits, prefix: str = "burnin-", netns_prefix: str = "astara-vm-",
                 image: str = "astara-tenant", flavor: str = "m1.tiny",
                 cidr: str = "10.254.0.0/24", metadata: bool = True):
        self.api = api
        self.run_id = run_id
        self.name = f"{prefix}{run_id}"
        self.probe_factory = probe_factory
        self.limits = limits
        self.netns_prefix = netns_prefix
        self.image_name, self.flavor_name = image, flavor
        self.cidr = cidr
        self.check_metadata = metadata
        self.report = Report(run_id)
        self.image = self.flavor = ""
        self.net: dict = {}
        self.probe: Probe | None = None
        self.servers: dict[str, dict] = {}  # "a"/"b" -> server (id, ip, mac)

    # helpers -----------------------------------------------------------------------
    def _wait(self, server_id: str, want: str, fail_after: float) -> str:
        deadline = time.monotonic() + fail_after
        status = "?"
        while time.monotonic() < deadline:
            server = self.api.server(server_id)
            status = "DELETED" if server is None else server["status"]
            if status == want:
                return f"{want} after {fail_after - (deadline - time.monotonic()):.2f}s"
            if status == "ERROR":
                raise StepFailed(f"{server_id} is ERROR: {server.get('fault')}")
            time.sleep(self.limits.poll)
        raise StepFailed(f"{server_id} is {status}, not {want} after {fail_after}s")

    def _create(self, key: str) -> str:
        user_data = f"#!/bin/sh\necho {self.run_id}-{key}\n".encode()
        created = self.api.create_server(f"{self.name}-{key}", self.image, self.flavor,
                                         self.net["id"], user_data,
                                         {"burnin": self.run_id})
        server = self.api.server(created["id"])
        port = next(iter(server["addresses"].values()))[0]
        self.servers[key] = {"id": created["id"], "ip": port["addr"],
                             "mac": port["OS-EXT-IPS-MAC:mac_addr"], "user_data": user_data}
        self.probe.allow(port["OS-EXT-IPS-MAC:mac_addr"], port["addr"])
        if server["status"] != "BUILD":
            raise StepFailed(f"BUILD not seen: the first status was {server['status']}")
        return f"{created['id']} {port['addr']} BUILD seen"

    def _ping(self, key: str, ns: str | None = None) -> str:
        ip = self.servers[key]["ip"]
        if not self.probe.ping(ip, self.limits.ping_timeout, ns):
            raise StepFailed(f"{ip} does not answer ping after {self.limits.ping_timeout}s")
        return ip

    # steps -------------------------------------------------------------------------
    def identity_required(self) -> str:
        status = self.api.unauthenticated_status()
        if status != 401:
            raise StepFailed(f"a request without identity got {status}, not 401")
        return "401"

    def list_flavors(self) -> str:
        found = {f["name"]: f["id"] for f in self.api.flavors()}
        if self.flavor_name not in found:
            raise StepFailed(f"flavor {self.flavor_name} not in {sorted(found)}")
        self.flavor = found[self.flavor_name]
        return f"{len(found)} flavors"

    def list_images(self) -> str:
        found = {i["name"]: i for i in self.api.images()}
        image = found.get(self.image_name)
        if image is None or image.get("status") != "ACTIVE":
            raise StepFailed(f"image {self.image_name} not ACTIVE in {sorted(found)}")
        self.image = image["id"]
        return f"{len(found)} images"

    def create_network(self) -> str:
        self.net, subnet = self.api.create_network(f"{self.name}-net", self.cidr)
        self.probe = self.probe_factory(self.net, subnet)
        self.probe.up()
        return f"{self.net['id']} {subnet['cidr']}, probe {self.probe.ns}"

    def stop(self) -> str:
        self.api.action(self.servers["a"]["id"], {"os-stop": None})
        done = self._wait(self.servers["a"]["id"], "SHUTOFF", self.limits.action_fail)
        if self.probe.ping(self.servers["a"]["ip"], 0):
            raise StepFailed("a stopped instance still answers ping")
        return done

    def start(self) -> str:
        self.api.action(self.servers["a"]["id"], {"os-start": None})
        return self._wait(self.servers["a"]["id"], "ACTIVE", self.limits.action_fail)

    def metadata(self) -> str:
        a = self.servers["a"]
        doc = self.api.metadata(a["id"], "/openstack/latest/meta_data.json")
        if doc.status_code != 200 or doc.json().get("uuid") != a["id"]:
            raise StepFailed(f"meta_data.json: {doc.status_code} {doc.text[:200]}")
        if doc.json().get("meta", {}).get("burnin") != self.run_id:
            raise StepFailed("meta_data.json has not the instance's metadata")
        ip = self.api.metadata(a["id"], "/latest/meta-data/local-ipv4").text
        if ip != a["ip"]:
            raise StepFailed(f"EC2 local-ipv4 is {ip!r}, not {a['ip']}")
        data = self.api.metadata(a["id"], "/openstack/latest/user_data").content
        if data != a["user_data"]:
            raise StepFailed(f"user_data is {data!r}")
        return "meta_data.json, EC2 local-ipv4, user_data"

    def delete(self) -> str:
        for server in self.servers.values():
            self.api.delete_server(server["id"])
        for server in self.servers.values():
            self._wait(server["id"], "DELETED", self.limits.action_fail)
        gone = list(self.servers)
        self.servers.clear()
        return f"{len(gone)} deleted"

    def cleanup(self) -> None:
        for server in list(self.servers.values()):
            try:
                self.api.delete_server(server["id"])
                self._wait(server["id"], "DELETED", self.limits.action_fail)
            except Exception:  # left for --delete-stale, the cleanup goes on
                continue
        if self.probe is not None:
            self.probe.down()
        if self.net:
            self.api.delete_network(self.net["id"])

    def run(self) -> Report:
        r, lim = self.report, self.limits
        netns_a = lambda: self.netns_prefix + self.servers["a"]["id"]  # noqa: E731
        try:
            r.run("identity_required", self.identity_required)
            r.run("list_flavors", self.list_flavors)
            r.run("list_images", self.list_images)
            r.run("create_network", self.create_network)
            r.run("create_server_a", lambda: self._create("a"))
            r.run("active_a", lambda: self._wait(self.servers["a"]["id"], "ACTIVE",
                                                 lim.build_fail), lim.build_warning)
            r.run("ping_a", lambda: self._ping("a"))
            r.run("stop_a", self.stop, lim.action_warning)
            r.run("start_a", self.start, lim.action_warning)
            r.run("ping_a_again", lambda: self._ping("a"))
            if self.check_metadata:
                r.run("metadata_a", self.metadata)
            r.run("create_server_b", lambda: self._create("b"))
            r.run("active_b", lambda: self._wait(self.servers["b"]["id"], "ACTIVE",
                                                 lim.build_fail), lim.build_warning)
            r.run("ping_b", lambda: self._ping("b"))
            r.run("ping_b_from_a", lambda: self._ping("b", netns_a()))
            r.run("delete_servers", self.delete, lim.action_warning)
        finally:
            r.run("cleanup", self.cleanup, always=True)
        return r


def stale(api: ApiClient, prefix: str) -> dict[str, list[dict]]:
    return {"servers": [{"id": s["id"], "name": s["name"], "status": s["status"]}
                        for s in api.servers() if s["name"].startswith(prefix)],
            "networks": [{"id": n["id"], "name": n["name"]}
                         for n in api.networks() if n["name"].startswith(prefix)]}


def delete_stale(api: ApiClient, prefix: str, timeout: float = 60.0) -> dict[str, list[dict]]:
    found = stale(api, prefix)
    for server in found["servers"]:
        api.delete_server(server["id"])
    deadline = time.monotonic() + timeout
    while any(api.server(s["id"]) for s in found["servers"]):
        if time.monotonic() > deadline:
            raise StepFailed("stale servers are not gone")
        time.sleep(0.2)
    for net in found["networks"]:
        api.delete_network(net["id"])
    return found
