"""An all-in-one stack for the benches (root): ``astara-aio`` with a state directory and
free ports of its own and a configuration sized for the run.

``Stack.close()`` stops it and removes what it left on the host, and only that: the
namespaces of its instances (ids from its own database and compute state), the
anti-spoofing chains of its ports' taps and the bridges of its networks; then the
state directory. It also finds the stack's processes (by service name, with their
children) and the processes inside its namespaces, for measuring them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import free_port, wait_for  # noqa: E402

from astara.cli.netns_cleanup import drop_filter_table_if_empty, filter_chains  # noqa: E402
from astara.compute_service.agent import antispoof  # noqa: E402
from astara.compute_service.agent.netns import NETNS_DIR, SYS_NET, bridge_name  # noqa: E402

BIN = Path(sys.executable).parent
PREFIXES = ("astara-appliance-", "astara-vm-")
SERVICES = ("network-api", "loadbalancer-api", "compute-api", "compute-metadata",
            "compute-agent", "appliance-agent", "orchestrator")


def sh(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), input=input, capture_output=True, text=True,
                          check=False)


class Stack:
    def __init__(self, name: str, routers: int, aio_args: tuple[str, ...] = ()):
        self.aio_args = aio_args  # e.g. ("--compute-hosts", "2")
        self.state = Path(f"/tmp/astara-bench-{name}-{os.getpid()}")
        self.routers = routers
        self.ports = {k: free_port() for k in ("net", "comp", "meta", "rpc", "lb")}
        self.network_url = f"http://127.0.0.1:{self.ports['net']}/"
        self.compute_url = f"http://127.0.0.1:{self.ports['comp']}/"
        self.rpc_url = f"http://127.0.0.1:{self.ports['rpc']}"
        self.aio: subprocess.Popen | None = None
        self._log = None
        self._made = False  # the state directory is ours to remove

    # -- life cycle --------------------------------------------------------------
    def config(self) -> str:
        n = self.routers
        return f"""[network_service]
bind_port = {self.ports['net']}
max_page_size = {max(1000, 4 * n + 100)}
[loadbalancer_service]
bind_port = {self.ports['lb']}
network_url = {self.network_url}
[compute_service]
bind_port = {self.ports['comp']}
metadata_port = {self.ports['meta']}
network_url = {self.network_url}
host_capacity = {2 * n + 100}
quota_instances = {n + 20}
[orchestrator]
network_url = {self.network_url}
compute_url = {self.compute_url}
metadata_url = http://127.0.0.1:{self.ports['meta']}/
loadbalancer_url = http://127.0.0.1:{self.ports['lb']}/
rpc_hosts = 127.0.0.1
rpc_port = {self.ports['rpc']}
"""

    def start(self, timeout: float = 120) -> Stack:
        self.state.mkdir(mode=0o755)
        self._made = True
        (self.state / "aio.conf").write_text(self.config())
        self._log = open(self.state / "aio.log", "w")  # noqa: SIM115
        # A session of its own: Ctrl-C reaches the bench, which stops it and cleans up.
        self.aio = subprocess.Popen(
            [str(BIN / "astara-aio"), "--state-path", str(self.state),
             "--config-file", str(self.state / "aio.conf"), *self.aio_args],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> bool:
            if self.aio is not None and self.aio.poll() is not None:
                raise RuntimeError(f"astara-aio exited with {self.aio.returncode}: see "
                                   f"{self.state / 'aio.log'} and {self.state / 'logs'}")
            return self.workers() is not None

        wait_for(up, timeout, f"the all-in-one stack to answer (logs: {self.state}/logs)", 0.3)
        return self

    def close(self) -> None:
        """Stop the stack and remove what it made on the host (never anything else)."""
        if not self._made:
            return
        instances, networks, ports = self._owned()
        leftovers = self._stop()
        pids = [p for pids in netns_pids(self._namespaces(instances)).values() for p in pids]
        for proc in leftovers + [psutil.Process(p) for p in pids if psutil.pid_exists(p)]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        with contextlib.suppress(psutil.Error, OSError):  # psutil: ENOENT for one
            psutil.wait_procs(leftovers, timeout=10)      # that exited meanwhile
        namespaces = self._namespaces(instances)
        if namespaces:
            sh("ip", "-force", "-batch", "-", input="".join(f"netns del {ns}\n"
                                                          for ns in namespaces))
        chains = filter_chains() or set()
        ours = sorted(chains & {("tap" + p)[:14] for p in ports})
        if ours:
            sh("nft", "-f", "-", input=antispoof.script(antispoof.delete_script(ours)))
        drop_filter_table_if_empty()
        # Every network is this stack's own (its database), so are their bridges: delete
        # them even if a port lingers (the kernel removes a deleted namespace's veths
        # later), or the management bridge keeps its address and breaks the next stack.
        for net in networks:
            br = bridge_name("brq", net)
            if (SYS_NET / br).exists():
                sh("ip", "link", "del", br)
        if self._log is not None:
            self._log.close()
        if keep := os.environ.get("ASTARA_BENCH_KEEP_LOGS"):  # to read where time went
            shutil.copytree(self.state / "logs", Path(keep) / self.state.name,
                            dirs_exist_ok=True)
        shutil.rmtree(self.state, ignore_errors=True)

    def _owned(self) -> tuple[set[str], list[str], list[str]]:
        """Instance, network and port ids this stack made (its database, its compute state)."""
        instances = set()
        with contextlib.suppress(OSError):
            instances |= set(os.listdir(self.state / "compute" / "instances"))
        networks: list[str] = []
        ports: list[str] = []
        db = self.state / "astara.sqlite"
        if db.exists():
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                                    timeout=30)) as c:
                def ids(table: str) -> list[str]:
                    try:
                        return [r[0] for r in c.execute(f"SELECT id FROM {table}")]  # noqa: S608
                    except sqlite3.Error:
                        return []
                instances |= set(ids("compute_instances"))
                networks, ports = ids("net_networks"), ids("net_ports")
        return instances, networks, ports

    def _namespaces(self, instances: set[str]) -> list[str]:
        names = os.listdir(NETNS_DIR) if NETNS_DIR.exists() else []
        return sorted(n for n in names for p in PREFIXES
                      if n.startswith(p) and n.removeprefix(p) in instances)

    def _stop(self) -> list[psutil.Process]:
        """SIGTERM astara-aio (it stops its services); its processes still alive after."""
        if self.aio is None:
            return []
        try:
            tree = psutil.Process(self.aio.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        if self.aio.poll() is None:
            self.aio.send_signal(signal.SIGTERM)
            try:
                self.aio.wait(120)
            except subprocess.TimeoutExpired:
                self.aio.kill()
                self.aio.wait()
        return [p for p in tree if p.is_running()]

    # -- views and processes ------------------------------------------------------
    def rpc(self, method: str, path: str, timeout: float = 30) -> dict | None:
        """The orchestrator's RPC answer, None while it does not answer."""
        try:
            token = (self.state / "rpc_auth_token").read_text().strip()  # astara-aio's
            r = httpx.request(method, self.rpc_url + path, headers={"X-Auth-Token": token},
                              timeout=timeout)
            return r.json() if r.status_code == 200 else None
        except (OSError, httpx.HTTPError, ValueError):
            return None

    def router_views(self) -> list[dict] | None:
        got = self.rpc("GET", "/routers/")
        return got["routers"] if got else None

    def workers(self) -> list[dict] | None:
        got = self.rpc("GET", "/workers/")
        return got["workers"] if got else None

    def service(self, name: str) -> psutil.Process:
        """The running process of one of astara-aio's services (``SERVICES``)."""
        assert self.aio is not None
        for child in psutil.Process(self.aio.pid).children():
            with contextlib.suppress(psutil.Error):
                if any(Path(a).name == f"astara-{name}" for a in child.cmdline()[:2]):
                    return child
        raise RuntimeError(f"astara-aio runs no {name} now")

    def restart(self, name: str, timeout: float = 60) -> tuple[int, float]:
        """SIGKILL a service; (new pid, monotonic time of the kill) once astara-aio has
        started it again."""
        old = self.service(name)
        killed = time.monotonic()
        old.send_signal(signal.SIGKILL)
        old.wait(30)

        def again() -> int | None:
            with contextlib.suppress(RuntimeError, psutil.Error):
                return self.service(name).pid
            return None

        pid = wait_for(again, timeout, f"astara-aio to restart {name}", 0.05)
        return pid, killed


def netns_pids(names: list[str]) -> dict[str, list[int]]:
    """The processes in each of these namespaces (one pass over /proc)."""
    by_inode = {}
    for name in names:
        with contextlib.suppress(OSError):
            by_inode[f"net:[{(NETNS_DIR / name).stat().st_ino}]"] = name
    out: dict[str, list[int]] = {name: [] for name in names}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                name = by_inode.get(os.readlink(f"/proc/{entry}/ns/net"))
                if name is not None:
                    out[name].append(int(entry))
    return out
