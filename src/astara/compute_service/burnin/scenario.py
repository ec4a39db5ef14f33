"""The burn-in scenario (after Synnefo's snf-burnin): the public APIs, end to end.

``BurnIn.run`` walks the steps in order with the shared burn-in framework
(``astara.burnin.steps``), each timed in its ``Report``: identity is
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

import time
from collections.abc import Callable
from dataclasses import dataclass

from astara.burnin.steps import Report, Runner, Step, StepFailed, wait
from astara.common.progress import SILENT, Progress
from astara.compute_service.burnin.client import ApiClient, ApiError
from astara.compute_service.burnin.probe import Probe


@dataclass(frozen=True)
class Limits:
    build_warning: float = 10.0
    build_fail: float = 60.0
    action_warning: float = 10.0
    action_fail: float = 60.0
    ping_timeout: float = 30.0
    poll: float = 0.1


class BurnIn:
    def __init__(self, api: ApiClient, run_id: str, probe_factory: Callable[[dict, dict], Probe],
                 limits: Limits, prefix: str = "burnin-", netns_prefix: str = "astara-vm-",
                 image: str = "astara-tenant", flavor: str = "m1.tiny",
                 cidr: str = "10.254.0.0/24", metadata: bool = True,
                 echo: Callable[[str], None] | None = None, progress: Progress = SILENT):
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
        self.runner = Runner(self.report, echo, progress=progress)
        self.image = self.flavor = ""
        self.net: dict = {}
        self.probe: Probe | None = None
        self.servers: dict[str, dict] = {}  # "a"/"b" -> server (id, ip, mac)

    # helpers -----------------------------------------------------------------------
    def _wait(self, server_id: str, want: str, fail_after: float) -> str:
        start = time.monotonic()
        seen = ["?"]

        def reached() -> bool:
            server = self.api.server(server_id)
            seen[0] = "DELETED" if server is None else server["status"]
            if seen[0] == "ERROR":
                raise StepFailed(f"{server_id} is ERROR: {server.get('fault')}")
            return seen[0] == want

        try:
            wait(reached, fail_after, f"{server_id} {want}", self.limits.poll)
        except StepFailed as exc:
            if seen[0] == "ERROR":
                raise
            raise StepFailed(f"{server_id} is {seen[0]}, not {want} after {fail_after}s") \
                from exc
        return f"{want} after {time.monotonic() - start:.2f}s"

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

    def steps(self) -> list[Step]:
        lim = self.limits
        netns_a = lambda: self.netns_prefix + self.servers["a"]["id"]  # noqa: E731
        return [
            Step("identity_required", self.identity_required),
            Step("list_flavors", self.list_flavors),
            Step("list_images", self.list_images),
            Step("create_network", self.create_network),
            Step("create_server_a", lambda: self._create("a")),
            Step("active_a", lambda: self._wait(self.servers["a"]["id"], "ACTIVE",
                                                lim.build_fail), lim.build_warning),
            Step("ping_a", lambda: self._ping("a")),
            Step("stop_a", self.stop, lim.action_warning),
            Step("start_a", self.start, lim.action_warning),
            Step("ping_a_again", lambda: self._ping("a")),
            *([Step("metadata_a", self.metadata)] if self.check_metadata else []),
            Step("create_server_b", lambda: self._create("b")),
            Step("active_b", lambda: self._wait(self.servers["b"]["id"], "ACTIVE",
                                                lim.build_fail), lim.build_warning),
            Step("ping_b", lambda: self._ping("b")),
            Step("ping_b_from_a", lambda: self._ping("b", netns_a())),
            Step("delete_servers", self.delete, lim.action_warning),
        ]

    def run(self) -> Report:
        try:
            self.runner.run(self.steps())
        finally:
            self.runner.step("cleanup", self.cleanup, always=True)
        return self.report


def _owned(api: ApiClient, entry: dict, *keys: str) -> bool:
    """Whether ``entry`` is the burn-in's project's (an admin's token lists every
    project's, and any tenant may name a network like the burn-in's)."""
    return any(entry.get(k) == api.project_id for k in keys)


def stale(api: ApiClient, prefix: str) -> dict[str, list[dict]]:
    return {"servers": [{"id": s["id"], "name": s["name"], "status": s["status"]}
                        for s in api.servers() if s["name"].startswith(prefix)
                        and _owned(api, s, "tenant_id", "project_id")],
            "networks": [{"id": n["id"], "name": n["name"]}
                         for n in api.networks() if n["name"].startswith(prefix)
                         and _owned(api, n, "project_id", "tenant_id")]}


def delete_stale(api: ApiClient, prefix: str, timeout: float = 60.0,
                 warn: Callable[[str], None] = print) -> dict[str, list[dict]]:
    """Delete the leftovers ``stale`` finds; one refused (403) is one ``warn`` line
    and listed under ``not_deleted``, the others are deleted all the same."""
    found = stale(api, prefix)
    refused: list[dict] = []

    def delete(kind: str, entry: dict, call: Callable[[str], None]) -> bool:
        try:
            call(entry["id"])
            return True
        except ApiError as exc:
            if exc.status not in (401, 403, 404, 409):
                raise
            warn(f"{kind} {entry['name']} ({entry['id']}) not deleted: {exc.status} "
                 f"{exc.reason}")
            refused.append({"kind": kind, **entry, "status": exc.status})
            return False

    gone = [s for s in found["servers"] if delete("server", s, api.delete_server)]
    wait(lambda: not any(api.server(s["id"]) for s in gone), timeout, "stale servers gone")
    for net in found["networks"]:
        delete("network", net, api.delete_network)
    return {**found, "not_deleted": refused}
