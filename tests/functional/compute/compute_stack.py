"""A whole compute deployment on loopback with the real netns backend (root).

The network API, the compute API and the metadata service run as uvicorn servers in
threads; the agent (``NetnsBackend`` with tagged prefixes) and the dispatcher run in
threads too; all share one SQLite database. ``config`` is an ini file an entry point
(burn-in, manage) reads to find them. ``stop`` kills the agent and the dispatcher
(as a crash would: their threads just end) and ``start`` brings them back. ``close``
stops everything and removes every namespace, link and process the tagged prefixes
name. ``Daemons`` runs the agent and the dispatcher as real processes on ``config``
instead (what the crash tests SIGKILL by pid).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from pathlib import Path

from tests.support import Server, free_port

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.cli.netns_cleanup import drop_filter_table_if_empty
from astara.common.settings import Settings, defaults
from astara.compute_service import jobs
from astara.compute_service.agent.netns import NETNS_DIR, SYS_NET, NetnsBackend
from astara.compute_service.agent.runner import SubprocessRunner
from astara.compute_service.agent.worker import Agent
from astara.compute_service.api.app import create_app
from astara.compute_service.dispatcher import consumer as dispatcher_mod
from astara.compute_service.metadata import routes as metadata
from astara.compute_service.settings import defaults as compute_defaults
from astara.compute_service.settings import retry_policy


def make_settings(state: Path, port: int) -> Settings:
    base = defaults(state)
    return replace(base, bus=replace(base.bus, max_idle_wait=1.0),
                   network=replace(base.network, bind_port=port, host="astara-func"))


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def plug_namespace(bridge: str, ns: str, host_if: str, addresses: list[str],
                   mac: str | None = None, *, namespaces: list[str],
                   links: list[str]) -> str:
    """A namespace of the test's own whose eth0 is on ``bridge`` (made if missing), with
    ``addresses``; what it creates goes on ``namespaces``/``links`` for the cleanup."""
    namespaces.append(ns)
    links.append(host_if)
    if not Path(f"/sys/class/net/{bridge}").exists():
        sh("ip", "link", "add", bridge, "type", "bridge")
        links.append(bridge)
    sh("ip", "link", "set", bridge, "up")
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
       *(["address", mac] if mac else []), "netns", ns)
    sh("ip", "link", "set", host_if, "master", bridge, "up")
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    for address in addresses:
        sh("ip", "-n", ns, "addr", "add", address, "dev", "eth0",
           *(["nodad"] if ":" in address else []))
    return ns


class ComputeStack:
    def __init__(self, work: Path):
        from astara.network_service.app import create_app as network_app

        self.tag = secrets.token_hex(2)
        self.work = work
        self.secret = "md-" + secrets.token_hex(8)
        self.base = make_settings(work / "state", free_port())
        self.network_app = network_app(self.base)
        self.network = Server(self.network_app, self.base.network.bind_port).start()
        self.settings = replace(
            compute_defaults(self.base), host=f"astara-func-{self.tag}",
            network_url=self.network.url,
            bind_port=free_port(), metadata_port=free_port(), metadata_secret=self.secret,
            quota_instances=100, netns_prefix=f"acv-{self.tag}-",
            appliance_netns_prefix=f"aca-{self.tag}-", bridge_prefix=f"acb{self.tag}",
            management_network=f"mgmt-{self.tag}",
            management_host_address=f"fdca:{int(self.tag, 16):x}::1/64",
            state_dir=work / "state" / "compute")
        self.app = create_app(self.base, self.settings)
        self.db = self.app.state.service.db
        self.compute = Server(self.app, self.settings.bind_port).start()
        self.metadata = Server(metadata.build_app(self.db, self.secret),
                               self.settings.metadata_port).start()
        self.backend = NetnsBackend.from_settings(self.settings)
        self.wake = WakeupDir(self.base.bus.wakeup_dir)
        self.job_wake = WakeupDir(jobs.wakeup_dir(self.base.bus.wakeup_dir))
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.config = work / "compute.ini"
        self.config.write_text(
            f"[DEFAULT]\nstate_path = {work / 'state'}\nhost = {self.settings.host}\n"
            f"[database]\nconnection = {self.base.database.url}\nauto_migrate = false\n"
            f"[compute_service]\nbind_port = {self.settings.bind_port}\n"
            f"network_url = {self.network.url}\n"
            f"metadata_port = {self.settings.metadata_port}\n"
            f"metadata_secret = {self.secret}\nnetns_prefix = {self.settings.netns_prefix}\n"
            f"appliance_netns_prefix = {self.settings.appliance_netns_prefix}\n"
            f"bridge_prefix = {self.settings.bridge_prefix}\n"
            f"management_network = {self.settings.management_network}\n"
            f"management_host_address = {self.settings.management_host_address}\n")

    def start(self) -> ComputeStack:
        """(Re)start the agent and the dispatcher, as a restarted host would."""
        self._stop = threading.Event()
        self.agent = Agent(self.db, self.backend, self.settings.host, OutboxPublisher(self.wake),
                           self.job_wake, idle_wait=0.5)
        self.agent.register()
        self.dispatcher = dispatcher_mod.make(self.db, self.wake, 0.5,
                                              retry_policy(self.settings))
        stop = self._stop
        self._threads = [threading.Thread(target=self.agent.run, args=(stop.is_set,),
                                          daemon=True),
                         threading.Thread(target=self.dispatcher.run, args=(stop.is_set,),
                                          daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.job_wake.notify()
        self.wake.notify()
        for t in self._threads:
            t.join(30)
        self.dispatcher.consumer.close()

    def headers(self, project: str, admin: bool = False) -> dict[str, str]:
        return {"X-Project-Id": project, "X-User-Id": "u",
                "X-Roles": "admin,member,reader" if admin else "member,reader"}

    def leftovers(self) -> list[str]:
        """Namespaces and links our prefixes name (empty when all is clean)."""
        prefixes = (self.settings.netns_prefix, self.settings.appliance_netns_prefix,
                    f"astara-burnin-{self.tag}")
        found = [n for n in os.listdir(NETNS_DIR) if n.startswith(prefixes)] \
            if NETNS_DIR.exists() else []
        found += [n for n in os.listdir(SYS_NET) if n.startswith(self.settings.bridge_prefix)
                  or n.startswith(f"abp{self.tag}")]
        return sorted(found)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        for server in (self.metadata, self.compute, self.network):
            server.stop()
        state = self.settings.state_dir / "instances"
        for pidfile in state.rglob("*.pid") if state.exists() else []:
            if not pidfile.name.endswith(".own.pid"):
                SubprocessRunner().kill(pidfile)
        for pidfile in (self.work / "state").rglob("dnsmasq.pid"):
            SubprocessRunner().kill(pidfile)
        SubprocessRunner().kill(self.backend.responders.pidfile)  # the responder zygote
        for name in self.leftovers():
            if (NETNS_DIR / name).exists():
                sh("ip", "netns", "del", name, check=False)
        for name in self.leftovers():
            sh("ip", "link", "del", name, check=False)
        self.backend.sweep_filters()  # chains of the taps just removed by hand
        drop_filter_table_if_empty()  # the backend keeps it (empty) once it made it
        self.db.dispose()
        self.network_app.state.service.db.dispose()


class Daemons:
    """``astara-compute-agent`` and ``astara-compute-dispatcher`` as processes of this test.

    ``kill`` sends SIGKILL to the pid this object started (a crash: nothing is cleaned
    up), ``start`` starts a new one; logs go to ``work/<name>.log``.
    """

    MODULES = {"agent": "astara.cli.compute_agent",
               "dispatcher": "astara.cli.compute_dispatcher"}

    def __init__(self, config: Path, work: Path):
        self.config = config
        self.work = work
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        if self.running(name):
            return
        with open(self.work / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", self.MODULES[name], "--config-file", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def kill(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        if proc is not None:
            proc.wait(10)

    def stop(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill(name)

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name)


def new_project() -> str:
    return uuid.uuid4().hex
