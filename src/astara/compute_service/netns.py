"""The default backend: each instance is a network namespace plugged into bridges.

For every port a veth pair joins the namespace (port MAC, ``ethN`` inside) to the
Linux bridge of the port's network, which is created on first use and removed when
its last member leaves. The ``tenant`` profile then runs a real DHCP client per
interface (its own pid and lease files, and a script that only touches the
namespace), accepts SLAAC (kernel defaults of a fresh namespace, set explicitly),
answers ping (kernel) and serves ``responder`` on port 80. Only names carrying our
prefixes are ever created, observed or removed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections import defaultdict
from pathlib import Path

from astara.compute_service import profiles
from astara.compute_service.backend import BackendError, InstanceSpec, Observed
from astara.compute_service.runner import CommandError, Runner

NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")


class NetnsBackend:
    def __init__(self, runner: Runner, state_dir: Path, netns_prefix: str = "astara-vm-",
                 bridge_prefix: str = "brq", python: str = sys.executable):
        self.runner = runner
        self.state_dir = Path(state_dir)
        self.netns_prefix = netns_prefix
        self.bridge_prefix = bridge_prefix
        self.python = python
        self._bridge_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    # names -------------------------------------------------------------------------
    def netns(self, instance_id: str) -> str:
        return self.netns_prefix + instance_id

    def bridge(self, net_id: str) -> str:
        return (self.bridge_prefix + net_id.replace("-", ""))[:15]

    @staticmethod
    def tap(port_id: str) -> str:
        return ("tap" + port_id)[:14]

    def _dir(self, instance_id: str) -> Path:
        return self.state_dir / "instances" / instance_id

    # the Backend protocol ----------------------------------------------------------
    def create(self, spec: InstanceSpec) -> str:
        ns = self.netns(spec.id)
        try:
            if not (NETNS_DIR / ns).exists():
                self.runner.run(["ip", "netns", "add", ns])
            self.runner.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            for i, port in enumerate(spec.ports):
                self._plug(ns, port, f"eth{i}")
            return self._start_processes(spec, ns)
        except CommandError as exc:
            raise BackendError(str(exc)) from None

    def delete(self, spec: InstanceSpec) -> None:
        ns = self.netns(spec.id)
        profiles.stop_all(self.runner, self._dir(spec.id))
        nets = {p["net_id"] for p in spec.ports}
        for port in spec.ports:
            self.runner.run(["ip", "link", "del", self.tap(port["port_id"])], check=False)
        if (NETNS_DIR / ns).exists():
            self.runner.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self._dir(spec.id), ignore_errors=True)
        for net_id in nets:
            self._drop_bridge_if_empty(self.bridge(net_id))

    def stop(self, spec: InstanceSpec) -> None:
        ns = self._require(spec.id)
        profiles.stop_all(self.runner, self._dir(spec.id))
        for ifname in self._interfaces(ns):
            self.runner.run(["ip", "-n", ns, "link", "set", ifname, "down"])

    def start(self, spec: InstanceSpec) -> None:
        ns = self._require(spec.id)
        for ifname in self._interfaces(ns):
            self.runner.run(["ip", "-n", ns, "link", "set", ifname, "up"])
        self._start_processes(spec, ns)

    def attach(self, spec: InstanceSpec, port: dict) -> None:
        ns = self._require(spec.id)
        names = self._interfaces(ns)
        if (SYS_NET / self.tap(port["port_id"])).exists():
            return
        ifname = next(f"eth{i}" for i in range(len(names) + 1) if f"eth{i}" not in names)
        self._plug(ns, port, ifname)
        if profiles.running(self.runner, self._dir(spec.id)):
            self._start_processes(spec, ns)

    def detach(self, spec: InstanceSpec, port: dict) -> None:
        ns = self._require(spec.id)
        mac = port.get("mac_address", "").lower()
        for ifname, info in self._interfaces(ns).items():
            if info.get("address", "").lower() == mac:
                profiles.stop_interface(self.runner, self._dir(spec.id), ifname)
        self.runner.run(["ip", "link", "del", self.tap(port["port_id"])], check=False)
        self._drop_bridge_if_empty(self.bridge(port["net_id"]))

    def observe(self) -> dict[str, Observed]:
        out = {}
        names = os.listdir(NETNS_DIR) if NETNS_DIR.exists() else []
        for name in names:
            if not name.startswith(self.netns_prefix):
                continue
            instance_id = name.removeprefix(self.netns_prefix)
            macs = tuple(i.get("address", "") for i in self._interfaces(name).values())
            out[instance_id] = Observed(
                instance_id, profiles.running(self.runner, self._dir(instance_id)), macs)
        return out

    # helpers -----------------------------------------------------------------------
    def _require(self, instance_id: str) -> str:
        ns = self.netns(instance_id)
        if not (NETNS_DIR / ns).exists():
            raise BackendError(f"namespace {ns} does not exist")
        return ns

    def _interfaces(self, ns: str) -> dict[str, dict]:
        out = self.runner.run(["ip", "-j", "-n", ns, "link", "show"], check=False)
        links = json.loads(out) if out.strip() else []
        return {link["ifname"]: link for link in links if link.get("ifname") != "lo"}

    def _plug(self, ns: str, port: dict, ifname: str) -> None:
        br = self.bridge(port["net_id"])
        tap = self.tap(port["port_id"])
        with self._bridge_locks[br]:
            if not (SYS_NET / br).exists():
                self.runner.run(["ip", "link", "add", br, "type", "bridge"])
                self.runner.run(["ip", "link", "set", br, "up"])
            if not (SYS_NET / tap).exists():
                inside = self._interfaces(ns)
                if ifname in inside:  # a leftover of an interrupted plug
                    self.runner.run(["ip", "-n", ns, "link", "del", ifname], check=False)
                self.runner.run(["ip", "link", "add", tap, "type", "veth", "peer", "name",
                                 ifname, "address", port["mac_address"], "netns", ns])
            self.runner.run(["ip", "link", "set", tap, "master", br, "up"])
        self.runner.run(["ip", "-n", ns, "link", "set", ifname, "up"])

    def _drop_bridge_if_empty(self, br: str) -> None:
        with self._bridge_locks[br]:
            members = SYS_NET / br / "brif"
            if members.exists() and not any(members.iterdir()):
                self.runner.run(["ip", "link", "del", br], check=False)

    def _start_processes(self, spec: InstanceSpec, ns: str) -> str:
        directory = self._dir(spec.id)
        directory.mkdir(parents=True, exist_ok=True)
        return profiles.start(self.runner, spec, ns, directory, sorted(self._interfaces(ns)),
                              self.python)
