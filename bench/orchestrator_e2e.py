"""End-to-end orchestrator benchmark on a real all-in-one stack (root).

Prints:
  * router ready latency: router + interface + gateway API calls -> a host behind it
    reaches upstream (ICMP echo through SNAT, one probe every 5 ms from one process
    started beforehand: ``first_reply.py``), p50/p99 over --samples
    routers, first with no other router, then with --existing routers already running,
    each followed by where the time went (``ready_phases``: p50 of each phase) and
    by the CPU used meanwhile: the host's, and each service's of the stack (on a host
    of two cores, the rest of the stack's work is what a router's making waits behind;
    the host's figure includes the bench's own probes and API client);
  * the compute agent's periodic reconcile passes while the routers existed (how
    many, the longest and the p50 of their durations: each shares the agent's process
    with its jobs, the plugs of the routers timed);
  * restart resync time: the orchestrator killed (-9) and restarted by astara-aio,
    until every router is seen healthy again (and how many pushes that cost).
Usage: sudo .venv/bin/python bench/orchestrator_e2e.py [--samples 10] [--existing 200]
       [--raise-host-limits] (needed for about 1,000 routers on a default host)
       [--compute-reconcile-interval 60] (0: no periodic reconcile, to see its cost)
       [--settle 60] (the existing routers only health-checked for 60 s before the
       second samples, the CPU used meanwhile printed: what the samples compete with)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import probes  # noqa: E402
from bench.host_limits import sized_for  # noqa: E402
from bench.ready_phases import Sample, breakdown, collect  # noqa: E402
from tests.support import free_port, wait_for  # noqa: E402

from astara.burnin.host import Upstream  # noqa: E402
from astara.burnin.scenario import Options, connection  # noqa: E402
from astara.compute_service.agent.bridge_ports import BRIDGE_PORTS  # noqa: E402
from astara.compute_service.agent.netns import bridge_name  # noqa: E402

_PASS = re.compile(r"reconcile pass of \S+: .* in (\d+\.\d+) s")

BIN = Path(sys.executable).parent
TARGET_P50, TARGET_P99 = 0.30, 1.0
PROBE = Path(__file__).with_name("first_reply.py")
PROBE_INTERVAL = 0.005


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Bench:
    def __init__(self, state: Path, ports: dict):
        o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                    compute_url=f"http://127.0.0.1:{ports['comp']}/")
        self.admin = connection(o, "bench-admin", True)
        self.user = connection(o, "bench-user", False)
        self.rpc = f"http://127.0.0.1:{ports['rpc']}"
        self.state = state
        self.n = 0
        self.open_public("bench")

    def open_public(self, upstream: str) -> None:
        """The external network and its upstream namespace (``upstream``: its name)."""
        ext = self.admin.network.create_network(name="bench-public", is_router_external=True)
        self.admin.network.create_subnet(
            network_id=ext.id, cidr="100.64.0.0/16", ip_version=4, is_dhcp_enabled=False,
            gateway_ip="100.64.0.1",
            allocation_pools=[{"start": "100.64.0.10", "end": "100.64.250.250"}])
        self.ext = ext.id
        self.upstream = Upstream(upstream, bridge_name("brq", ext.id), "100.64.0.0/16",
                                 "100.64.0.1")
        self.upstream.open()

    def network(self) -> tuple[str, str]:
        self.n += 1
        net = self.user.network.create_network(name=f"bench-net{self.n}")
        sub = self.user.network.create_subnet(
            network_id=net.id, ip_version=4, cidr=f"10.{self.n // 250}.{self.n % 250}.0/24")
        return net.id, sub.id

    def rpc_get(self, path: str) -> dict:
        token = (self.state / "rpc_auth_token").read_text().strip()  # astara-aio's
        r = httpx.get(f"{self.rpc}{path}", headers={"X-Auth-Token": token}, timeout=5)
        r.raise_for_status()
        return r.json()

    def router(self, sub_id: str) -> str:
        r = self.user.network.create_router(name=f"bench-r{self.n}",
                                            external_gateway_info={"network_id": self.ext})
        self.user.network.add_interface_to_router(r, subnet_id=sub_id)
        return r.id

    def ready_latency(self) -> Sample:
        net_id, sub_id = self.network()
        vm = self.user.compute.create_server(name=f"bench-vm{self.n}", image_id="astara-tenant",
                                             flavor_id="1", networks=[{"uuid": net_id}])
        wait_for(lambda: self.user.compute.get_server(vm.id).status == "ACTIVE", 60, "vm ACTIVE")
        ns = f"astara-vm-{vm.id}"
        # One process in the host's namespace probing every 5 ms until the first reply
        # (``first_reply.py``), started before the clock: no process per probe on the
        # CPU the router's making needs. Entered with nsenter, not ``ip netns exec``:
        # that one copies every mount of /run/netns (one per namespace), the bench's
        # own cost growing with the host's routers.
        probe = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-I",
                                  "-S", "-u", str(PROBE), "100.64.0.1", str(PROBE_INTERVAL),
                                  "180"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert probe.stdout is not None
            if probe.stdout.readline().strip() != "ready":
                raise AssertionError(f"the probe did not start in {ns}")
            t0 = time.time()
            router_id = self.router(sub_id)
            api_done = time.time()
            out, _ = probe.communicate(timeout=190)
        finally:
            if probe.poll() is None:
                probe.kill()
                probe.wait()
        said = dict(line.split() for line in out.splitlines() if len(line.split()) == 2)
        if probe.returncode != 0 or "reply" not in said:
            raise AssertionError("the host behind the router never reached upstream")
        sample = Sample(router_id, t0, api_done, float(said["reply"]))
        if "route" in said:  # its first send that found a route: the lease was there
            sample.at["leased"] = max(t0, float(said["route"]))
        return sample

    def explain(self, samples: list[Sample]) -> list[str]:
        """Where the time went (p50 per phase), from what the stack recorded."""
        logs = self.state / "logs"
        orch = (logs / "orchestrator.log").read_text(errors="replace")
        appl = (logs / "appliance-agent.log").read_text(errors="replace")
        for s in samples:
            try:
                s.instance_id = wait_for(lambda s=s: self.rpc_get(
                    f"/routers/{s.router_id}")["router"]["instance_id"], 10,
                    "the router's snapshot", 0.2)
                s.launched_at = self.admin.compute.get_server(s.instance_id).launched_at
            except (AssertionError, httpx.HTTPError):
                pass
            collect(s, self.state / "astara.sqlite", orch, appl)
        return breakdown(samples)

    def healthy_count(self) -> int:
        try:
            routers = self.rpc_get("/routers/")["routers"]
        except (httpx.TransportError, httpx.HTTPStatusError, ValueError):
            return -1
        return sum(1 for r in routers if r["steps"] and r["steps"][-1]["step"] == "Alive")


def report(label: str, samples: list[Sample], bench: Bench) -> None:
    took = [s.forwarded - s.t0 for s in samples]
    print(f"router ready latency, {label}: p50 {statistics.median(took):.2f} s "
          f"(target <= {TARGET_P50:.2f} s), p99 {pct(took, 0.99):.2f} s "
          f"(target <= {TARGET_P99:.2f} s) ({len(samples)} routers); where it went:")
    for line in bench.explain(samples):
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--existing", type=int, default=200)
    ap.add_argument("--compute-reconcile-interval", type=float, default=60.0,
                    help="the compute agent's reconcile_interval (0: none)")
    ap.add_argument("--raise-host-limits", action="store_true",
                    help="size the host's neighbour tables and backlog for the run "
                    "(restored after)")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds the existing routers are only health-checked before "
                    "the second samples (the CPU used meanwhile is printed)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    # Every router has a port on the external network's bridge (so has the upstream),
    # and a Linux bridge takes at most 1,023: past them the plugs are refused.
    if (ports := a.existing + 2 * a.samples + 1) > BRIDGE_PORTS:
        raise SystemExit(f"--existing {a.existing} and twice --samples {a.samples} put "
                         f"{ports} ports on the external network's bridge: a Linux bridge "
                         f"takes at most {BRIDGE_PORTS} (lower --existing or --samples)")
    # each sample adds a router and a host, each existing router an appliance
    with sized_for(a.existing + 4 * a.samples, a.raise_host_limits):
        run(a)


def _service(proc: psutil.Process) -> str:
    """``astara-<name>`` of the process or of its nearest ancestor that has one (a
    service's worker processes: the network API's run as ``python3 -c``), else the
    program (dnsmasq, ip...)."""
    for p in [proc, *proc.parents()]:
        argv = p.cmdline() or [p.name()]
        if name := next((Path(a).name for a in argv if Path(a).name.startswith("astara-")
                         and Path(a).name != "astara-aio"), None):
            return name
    argv = proc.cmdline() or [proc.name()]
    return Path(argv[0]).name


def by_service(aio: subprocess.Popen) -> dict[str, float]:
    """CPU seconds so far of the stack's processes, by service (``_service``), and of
    the whole host (``host``)."""
    out: dict[str, float] = defaultdict(float)
    for proc in probes.tree([psutil.Process(aio.pid)]):
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            out[_service(proc)] += t.user + t.system
    out["host"] = probes.host_cpu()
    return out


def cpu_while(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """Who used the CPU between two ``by_service`` readings: on a host of few cores,
    the stack's other work is what a router's making waits behind."""
    used = sorted(((after[k] - before.get(k, 0.0), k) for k in after if k != "host"),
                  reverse=True)
    head = (f"  CPU meanwhile ({seconds:.0f} s; {psutil.cpu_count()} cores): host "
            f"{(after['host'] - before['host']) / seconds * 100:.0f}% of one core, of which")
    return head + "; ".join(f" {k} {s / seconds * 100:.0f}%" for s, k in used[:8] if s > 0)


def reconcile_passes(log: Path) -> str:
    """The compute agent's periodic reconcile passes so far, from its INFO lines."""
    took = [float(m[1]) for m in _PASS.finditer(log.read_text(errors="replace"))] \
        if log.exists() else []
    if not took:
        return "compute agent's reconcile passes: none logged"
    return (f"compute agent's reconcile passes: {len(took)}, p50 "
            f"{statistics.median(took):.2f} s, longest {max(took):.2f} s (the last one "
            f"{took[-1]:.2f} s)")


def start_aio(state: Path, reconcile_interval: float = 60.0
              ) -> tuple[dict[str, int], subprocess.Popen]:
    """``astara-aio`` on free ports with its state in ``state`` (its log in aio.log), sized
    for the bench's 1,000 routers: the ports by name, and the process."""
    ports = {k: free_port() for k in ("net", "comp", "meta", "rpc", "lb")}
    (state / "aio.conf").write_text(f"""[network_service]
bind_port = {ports['net']}
max_page_size = 10000
[loadbalancer_service]
bind_port = {ports['lb']}
network_url = http://127.0.0.1:{ports['net']}/
[compute_service]
bind_port = {ports['comp']}
metadata_port = {ports['meta']}
network_url = http://127.0.0.1:{ports['net']}/
host_capacity = 2000
quota_instances = 1000
reconcile_interval = {reconcile_interval}
[orchestrator]
network_url = http://127.0.0.1:{ports['net']}/
compute_url = http://127.0.0.1:{ports['comp']}/
metadata_url = http://127.0.0.1:{ports['meta']}/
loadbalancer_url = http://127.0.0.1:{ports['lb']}/
rpc_hosts = 127.0.0.1
rpc_port = {ports['rpc']}
""")
    # Under the lock no other stack runs: what an earlier run that died left (a
    # management address on a stale bridge) would leave every appliance unreachable.
    subprocess.run([str(BIN / "astara-netns-cleanup"), "--force"], capture_output=True)
    with open(state / "aio.log", "w") as log:  # the child keeps its own copy
        aio = subprocess.Popen([str(BIN / "astara-aio"), "--state-path", str(state),
                                "--config-file", str(state / "aio.conf")], stdout=log,
                               stderr=subprocess.STDOUT)
    return ports, aio


def run(a: argparse.Namespace) -> None:
    state = Path(f"/tmp/astara-bench-e2e-{os.getpid()}")
    state.mkdir(mode=0o755)
    ports, aio = start_aio(state, a.compute_reconcile_interval)
    bench, failed = None, True
    try:
        wait_for(lambda: subprocess.run(["curl", "-s", f"http://127.0.0.1:{ports['rpc']}/workers/"],
                                    capture_output=True).returncode == 0, 120, "stack up", 0.2)
        bench = Bench(state, ports)
        cpu, t0 = by_service(aio), time.monotonic()
        first = [bench.ready_latency() for _ in range(a.samples)]
        report("0 existing routers", first, bench)
        print(cpu_while(cpu, by_service(aio), time.monotonic() - t0), flush=True)
        t0 = time.monotonic()
        for _ in range(a.existing):
            bench.router(bench.network()[1])
        total = a.existing + 2 * a.samples
        wait_for(lambda: bench.healthy_count() >= a.existing + a.samples, 3600,
             f"{a.existing} more routers healthy", 1.0)
        print(f"{a.existing} routers created and healthy in {time.monotonic() - t0:.1f} s")
        if a.settle > 0:
            cpu, t0 = by_service(aio), time.monotonic()
            time.sleep(a.settle)  # a measured idle period, not a synchronisation
            print(f"only health checks for {a.settle:.0f} s:")
            print(cpu_while(cpu, by_service(aio), time.monotonic() - t0), flush=True)
        cpu, t0 = by_service(aio), time.monotonic()
        second = [bench.ready_latency() for _ in range(a.samples)]
        report(f"{a.existing + a.samples} existing routers", second, bench)
        print(cpu_while(cpu, by_service(aio), time.monotonic() - t0), flush=True)
        print(reconcile_passes(state / "logs" / "compute-agent.log"), flush=True)
        pid = int(subprocess.run(["pgrep", "-f", f"astara-orchestrator --state-path {state}"],
                                 capture_output=True, text=True).stdout.split()[0])
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        wait_for(lambda: bench.healthy_count() >= total, 1800, "all routers healthy again", 0.2)
        print(f"restart resync: {total} routers seen healthy again {time.monotonic() - t0:.1f} s "
              "after the orchestrator was killed (includes astara-aio's 1 s restart delay)")
        failed = False
    finally:
        if bench is not None:
            bench.upstream.close()
        aio.send_signal(signal.SIGTERM)
        aio.wait(120)
        subprocess.run([str(BIN / "astara-netns-cleanup"), "--force"], capture_output=True)
        if failed:  # what the stack logged is what says why
            shutil.copytree(state / "logs", f"{state}-logs", dirs_exist_ok=True)
            print(f"failed: the stack's logs are kept in {state}-logs", file=sys.stderr)
        elif keep := os.environ.get("ASTARA_BENCH_KEEP_LOGS"):  # where the time went
            shutil.copytree(state / "logs", Path(keep) / state.name, dirs_exist_ok=True)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
