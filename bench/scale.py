"""Scale benchmark on a real all-in-one stack (root): N routers, each with a gateway, one
internal network, one instance and a floating IP, on this host.

Prints, each next to its target (issue 11):
  * the time to get all N created, ACTIVE and forwarding (every instance reaches the
    upstream namespace through its router, every floating IP answers from upstream),
    where that time went, and the rebuilds of appliances meanwhile;
  * floating IP associate -> traffic flows, p50/p99 over a sample;
  * memory per router: the processes in its appliance namespace (PSS), the kernel's
    share (host-wide delta) and the agents' share (RSS / N);
  * the orchestrator's and the appliance agent's CPU while all N are only health-checked;
  * the orchestrator, then the appliance agent, killed (-9) and restarted by astara-aio:
    time until every router is seen healthy again, pushes, rebuilds, lost pings from
    instances behind routers (and, for the agent, dnsmasq processes restarted).
Usage: sudo .venv/bin/python bench/scale.py --routers N [--idle-seconds 120] ...
Hold /tmp/astara-functional.lock (flock) while it runs when others test on the host.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import shutil
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import probes  # noqa: E402
from bench.host_limits import sized_for  # noqa: E402
from bench.orchestrator_e2e import by_service, cpu_while, pct  # noqa: E402
from bench.stack import Stack, netns_pids  # noqa: E402
from tests.support import wait_for  # noqa: E402

from astara.burnin.host import Upstream, in_ns  # noqa: E402
from astara.burnin.scenario import Options, connection  # noqa: E402
from astara.compute_service.agent.bridge_ports import BRIDGE_PORTS  # noqa: E402
from astara.compute_service.agent.netns import bridge_name  # noqa: E402
from astara.orchestrator.clients.appliance import HttpApplianceAPI  # noqa: E402

UPSTREAM = "100.64.0.1"
MiB = 1024 * 1024


class Topology:
    """The routers the bench builds, each with its network, instance and floating IP."""

    def __init__(self, stack: Stack, parallel: int):
        self.stack = stack
        self.o = Options(network_url=stack.network_url, compute_url=stack.compute_url)
        self.admin = connection(self.o, "scale-admin", True)
        self.user = connection(self.o, "scale-user", False)
        self._local = threading.local()
        self.parallel = parallel
        ext = self.admin.network.create_network(name="scale-public", is_router_external=True)
        self.admin.network.create_subnet(
            network_id=ext.id, cidr="100.64.0.0/16", ip_version=4, is_dhcp_enabled=False,
            gateway_ip=UPSTREAM,
            allocation_pools=[{"start": "100.64.0.10", "end": "100.64.250.250"}])
        self.ext = ext.id
        self.upstream = Upstream(f"scale{os.getpid()}", bridge_name("brq", ext.id),
                                 "100.64.0.0/16", UPSTREAM)
        self.routers: list[dict] = []  # i, net, router, server, port, fip, address

    def open(self) -> None:
        self.upstream.open()
        # ARP retried every 10 ms (not 1 s) in our upstream namespace only, so that a
        # floating IP's first reply is not held back by the upstream's own retry timer.
        in_ns(self.upstream.ns, "sysctl", "-qw", "net.ipv4.neigh.eth0.retrans_time_ms=10")

    def conn(self):
        if not hasattr(self._local, "user"):
            self._local.user = connection(self.o, "scale-user", False)
        return self._local.user

    def _create(self, i: int) -> dict:
        u = self.conn()
        net = u.network.create_network(name=f"scale-net{i}")
        sub = u.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr=f"10.{i // 250}.{i % 250}.0/24")
        router = u.network.create_router(name=f"scale-r{i}",
                                         external_gateway_info={"network_id": self.ext})
        u.network.add_interface_to_router(router, subnet_id=sub.id)
        server = u.compute.create_server(name=f"scale-vm{i}", image_id="astara-tenant",
                                         flavor_id="1", networks=[{"uuid": net.id}])
        return {"i": i, "net": net.id, "router": router.id, "server": server.id}

    def _fip(self, r: dict, port: str) -> None:
        fip = self.conn().network.create_ip(floating_network_id=self.ext, port_id=port)
        r.update(port=port, fip=fip.id, address=fip.floating_ip_address)

    def build(self, n: int, timeout: float) -> dict[str, float]:
        """Create N routers and wait until all forward; seconds since the start, by phase."""
        t0 = time.monotonic()
        marks = {}
        with concurrent.futures.ThreadPoolExecutor(self.parallel) as pool:
            self.routers = list(pool.map(self._create, range(n)))
            marks["API calls done (network, subnet, router, interface, server)"] = \
                time.monotonic() - t0
            mine = {r["server"] for r in self.routers}
            wait_for(lambda: sum(1 for s in self.user.compute.servers()
                                 if s.id in mine and s.status == "ACTIVE") == n,
                     timeout, f"{n} instances ACTIVE", 1.0)
            marks["instances ACTIVE"] = time.monotonic() - t0
            ports = {p.device_id: p.id for p in self.user.network.ports()
                     if p.device_id in mine}
            list(pool.map(lambda r: self._fip(r, ports[r["server"]]), self.routers))
            marks["floating IPs associated"] = time.monotonic() - t0
        ids = {r["router"] for r in self.routers}
        wait_for(lambda: sum(1 for r in self.user.network.routers()
                             if r.id in ids and r.status == "ACTIVE") == n,
                 timeout, f"{n} routers ACTIVE", 1.0)
        marks["routers ACTIVE"] = time.monotonic() - t0
        self.forwarding(self.routers, timeout)
        marks["all forwarding (instance -> upstream, upstream -> floating IP)"] = \
            time.monotonic() - t0
        return marks

    def forwarding(self, routers: list[dict], timeout: float) -> None:
        probes.all_answer([(vm_ns(r), UPSTREAM) for r in routers], timeout,
                          "instances to reach upstream through their routers")
        probes.all_answer([(self.upstream.ns, r["address"]) for r in routers], timeout,
                          "floating IPs to answer from upstream")

    def fip_latency(self, r: dict, timeout: float) -> float:
        """Disassociate, wait until it no longer answers, then time associate -> reply."""
        net = self.user.network
        net.update_ip(r["fip"], port_id=None)
        wait_for(lambda: not probes.pings(self.upstream.ns, r["address"], 0.3), timeout,
                 f"floating IP {r['address']} to stop answering after its disassociation")
        return probes.first_reply(self.upstream.ns, r["address"],
                                  lambda: net.update_ip(r["fip"], port_id=r["port"]), timeout)


def vm_ns(r: dict) -> str:
    return f"astara-vm-{r['server']}"


def sample(routers: list[dict], k: int) -> list[dict]:
    step = max(1, len(routers) // max(1, k))
    return routers[::step][:k]


def counters(stack: Stack) -> dict[str, int]:
    """Steps performed by the orchestrator's current workers, summed (``/workers/``)."""
    total: dict[str, int] = {}
    for w in stack.workers() or []:
        for step, n in w.get("steps", {}).items():
            total[step] = total.get(step, 0) + n
    return total


def boots(stack: Stack) -> int:
    """Appliance boots beyond each router's first (persisted: survives restarts)."""
    views = stack.router_views() or []
    return sum(max(0, v["memory"]["boots"] - 1) for v in views)


def view_every(n: int) -> float:
    """How often to fetch every router's view: not so often that serving it (JSON of
    N routers) becomes the orchestrator's main work."""
    return min(0.5, max(0.1, n / 2000))


def healthy(views: list[dict] | None, n: int, since: float = 0.0) -> bool:
    return views is not None and len(views) >= n and all(
        v["steps"] and v["steps"][-1]["step"] == "Alive" and v["steps"][-1]["at"] >= since
        for v in views)


def appliance_processes(stack: Stack) -> dict[str, list[int]]:
    views = stack.router_views() or []
    return netns_pids([f"astara-appliance-{v['instance_id']}" for v in views
                       if v["instance_id"]])


def dnsmasq_pids(stack: Stack) -> dict[str, set[int]]:
    out = {}
    for ns, pids in appliance_processes(stack).items():
        found = set()
        for pid in pids:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "dnsmasq":
                    found.add(pid)
            except OSError:
                continue
        out[ns] = found
    return out


def breaker(stack: Stack) -> str:
    """The rebuild breaker's state (``GET /health/``), where the orchestrator has one."""
    got = stack.rpc("GET", "/health/")
    b = got.get("breaker") if isinstance(got, dict) else None
    if not isinstance(b, dict):
        return ""
    return (f"; rebuild breaker {b.get('state')}, rebuilds held: {b.get('held_suspect', 0)} "
            f"suspect + {b.get('held_budget', 0)} over budget (target 0)")


def report_build(n: int, marks: dict[str, float], rebuilds: int, steps: dict,
                 held: str) -> None:
    total = list(marks.values())[-1]
    print(f"{n} routers (gateway, network, instance, floating IP) created, ACTIVE and "
          f"forwarding in {total:.1f} s (target: 1,000 on this host)")
    for what, at in marks.items():
        print(f"    {at:7.1f} s  {what}")
    print(f"  appliance rebuilds during the build: {rebuilds} (target 0){held}")
    print(f"  steps performed: {dict(sorted(steps.items()))}")


def measure_memory(stack: Stack, n: int, kernel_before: int) -> None:
    procs = appliance_processes(stack)
    app_pss, app_rss = probes.pss(p for pids in procs.values() for p in pids)
    skip = {p for pids in netns_pids(sorted(
        name for name in os.listdir("/run/netns") if name.startswith("astara-"))).values()
        for p in pids}  # what runs in namespaces is an instance's or an appliance's
    agents = {}
    for name in ("orchestrator", "appliance-agent", "compute-agent"):
        agents[name] = probes.rss(p for p in probes.tree([stack.service(name)])
                                  if p.pid not in skip)
    kernel = probes.kernel_memory() - kernel_before
    share = sum(agents.values())
    print(f"memory per router: {(app_pss + share) / n / MiB:.2f} MiB of processes "
          f"+ {kernel / n / MiB:.2f} MiB kernel")
    print(f"    {app_pss / n / MiB:6.2f} MiB  processes in its appliance namespace "
          f"(PSS; RSS {app_rss / n / MiB:.2f} MiB), {len(procs)} namespaces")
    for name, size in agents.items():
        print(f"    {size / n / MiB:6.2f} MiB  {name}'s share (RSS {size / MiB:.0f} MiB / {n})")
    print(f"    {kernel / n / MiB:6.2f} MiB  kernel (slab, per-CPU, stacks, page tables: "
          "host-wide growth since the start, appliance and instance namespaces, noisy)")


def measure_idle_cpu(stack: Stack, n: int, seconds: float) -> None:
    roots = {"orchestrator": stack.service("orchestrator"),
             "appliance agent": stack.service("appliance-agent")}
    before = {k: probes.cpu_seconds(probes.tree([p])) for k, p in roots.items()}
    alive_before = counters(stack).get("Alive", 0)
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    checks = counters(stack).get("Alive", 0) - alive_before
    used = {}
    for k, p in roots.items():
        after = probes.cpu_seconds(probes.tree([p]))
        used[k] = sum(t - before[k].get(pid, 0.0) for pid, t in after.items())
    total = sum(used.values()) / elapsed * 100
    print(f"CPU while {n} routers are only health-checked ({elapsed:.0f} s, {checks} health "
          f"checks): {total:.2f}% of one core (target <= 5%)")
    for k, s in used.items():
        print(f"    {s / elapsed * 100:6.2f}%  {k} ({s * 60 / elapsed:.2f} CPU s per minute)")
    if checks:
        print(f"    orchestrator CPU / health checks: {used['orchestrator'] / checks * 1000:.2f}"
              " ms (an upper bound: its idle work counts too; bench/orchestrator_passes.py "
              "measures a check alone, target <= 0.05 ms)")


def measure_restart(stack: Stack, topo: Topology, name: str, pingers: int,
                    timeout: float) -> None:
    n = len(topo.routers)
    watched = sample(topo.routers, pingers)
    running = [probes.Pinger(vm_ns(r), UPSTREAM) for r in watched]
    dnsmasq = dnsmasq_pids(stack)
    rebuilds = boots(stack)
    steps = counters(stack)
    try:
        time.sleep(1.0)  # a second of pings before: what is lost then is not the restart's
        cpu_before = cpu_reading(stack)[1]
        cpu_before.used[f"astara-{name}"] = 0.0  # a new process: its CPU counts from 0
        _pid, killed = stack.restart(name, timeout)
        marks = {f"astara-aio started a new {name}": time.monotonic() - killed}
        if name == "orchestrator":
            # Every router's pass by the new orchestrator ends in Alive (its views come
            # from its own workers: a dead orchestrator answers nothing).
            def seen() -> bool:
                views = stack.router_views()
                if views is not None:
                    marks.setdefault("its RPC API answers", time.monotonic() - killed)
                    if any(v["steps"] and v["steps"][-1]["step"] == "Alive" for v in views):
                        marks.setdefault("first router seen healthy", time.monotonic() - killed)
                return healthy(views, n)

            wait_for(seen, timeout, f"the restarted orchestrator to see all {n} routers "
                     "healthy", view_every(n))
            took = time.monotonic() - killed
            pushes = counters(stack).get("ConfigureVM", 0)  # its workers are new: from 0
        else:
            took = wait_appliances(stack, n, timeout, killed, marks) - killed
            cpu_answered, poll_start = cpu_reading(stack)
            marks["every appliance answers healthy (the bench's status calls)"] = took
            marks.update(agent_served(stack, killed))
            # Then the orchestrator looks at every router at once (not in up to
            # health_check_period): any push the restart caused happens now.
            asked = time.time()
            stack.rpc("PUT", "/poll/")
            wait_for(lambda: healthy(stack.router_views(), n, asked), timeout,
                     "the orchestrator to see every router healthy after the agent's restart",
                     view_every(n))
            marks["the orchestrator sees every router healthy (after PUT /poll/)"] = \
                time.monotonic() - killed
            pushes = counters(stack).get("ConfigureVM", 0) - steps.get("ConfigureVM", 0)
        cpu_after = cpu_reading(stack)[0]
        time.sleep(1.0)
    finally:
        lost = [p.stop() for p in running]
    print(f"{name} killed (-9) and restarted by astara-aio with {n} routers:")
    print(f"    every router seen healthy again after {took:.2f} s (target <= 10 s; includes "
          "astara-aio noticing the death, <= 0.1 s)")
    for what, at in sorted(marks.items(), key=lambda m: m[1]):
        print(f"      {at:6.2f} s  {what}")
    if name == "appliance-agent":
        print("    until every appliance answers: " + cpu_before.until(cpu_answered))
        print("    then the orchestrator's poll: " + poll_start.until(cpu_after))
    else:
        print("    " + cpu_before.until(cpu_after))
    print(f"    config pushes: {pushes} (target 0), appliance rebuilds: "
          f"{boots(stack) - rebuilds} (target 0)")
    print(f"    lost pings: {sum(lost)} of the pings every 0.1 s from {len(running)} instances "
          "to upstream (target 0)")
    if name == "appliance-agent":
        after = dnsmasq_pids(stack)
        restarted = sum(1 for ns, pids in dnsmasq.items() if after.get(ns) != pids)
        print(f"    dnsmasq restarted: {restarted} of {len(dnsmasq)} (target 0)")


def own_cpu() -> float:
    """The bench's own CPU seconds (its threads asking appliances included)."""
    t = psutil.Process().cpu_times()
    return t.user + t.system


@dataclass
class CpuMark:
    """CPU seconds by service (``by_service``), the host's and the bench's own, at a
    monotonic time."""

    at: float
    used: dict[str, float]

    def until(self, end: CpuMark) -> str:
        return cpu_while(self.used, end.used, end.at - self.at).strip()


def cpu_reading(stack: Stack) -> tuple[CpuMark, CpuMark]:
    """Two marks: as a span's end, and as the next one's start. Reading some 3,000
    processes costs the bench a second or more of CPU (and of the host's): that time
    is in neither span, the host's and the bench's CPU of it neither."""
    assert stack.aio is not None
    at, mine, host = time.monotonic(), own_cpu(), probes.host_cpu()
    services = by_service(stack.aio)
    end = CpuMark(at, services | {"the bench": mine, "host": host})
    start = CpuMark(time.monotonic(),
                    services | {"the bench": own_cpu(), "host": probes.host_cpu()})
    return end, start


def agent_served(stack: Stack, killed: float) -> dict[str, float]:
    """When the restarted appliance agent served its first and its last namespace (its
    "serving appliance namespace" lines since the kill), as seconds after the kill."""
    wall_killed = time.time() - (time.monotonic() - killed)
    served = []
    log = stack.state / "logs" / "appliance-agent.log"
    for line in log.read_text(errors="replace").splitlines():
        if "serving appliance namespace" in line:
            with contextlib.suppress(ValueError):
                at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if at >= wall_killed:
                    served.append(at - wall_killed)
    if not served:
        return {}
    return {"the new agent serves its first namespace": served[0],
            f"the new agent serves its last namespace ({len(served)} served)": served[-1]}


def wait_appliances(stack: Stack, n: int, timeout: float, killed: float,
                    marks: dict[str, float]) -> float:
    """Monotonic time at which every appliance answered its status healthy, on the
    config the orchestrator wants (asked directly, with the deployment key).

    Asked one at a time in the order the restarted agent serves them (its namespaces'
    names, sorted), each again every 5 ms until it answers: rounds asking every
    appliance not answering yet took a core of this 2-core host from the agent they
    time. One the agent serves out of that order (a retry) holds up those after it,
    which are then asked one call each (about 0.5 ms here): the figure is then late by
    up to that much; the agent's own "last namespace served" is printed beside it.
    "first appliance answers healthy" is the first in that order."""
    views = sorted((v for v in stack.router_views() or [] if v["management_address"]),
                   key=lambda v: v["instance_id"])
    key = (stack.state / "appliance_auth_key").read_bytes().strip()
    api = HttpApplianceAPI(key, timeout=2.0)
    deadline = time.monotonic() + timeout
    pending = list(views)
    try:
        while pending:
            v = pending[0]
            st = api.status(v["management_address"], v["instance_id"])
            if st.reachable and st.healthy and st.config_digest == v["config_digest"]:
                pending.pop(0)
                marks.setdefault("first appliance answers healthy", time.monotonic() - killed)
            elif time.monotonic() > deadline:
                raise AssertionError(f"every appliance to answer healthy after the agent's "
                                     f"restart: {len(pending)} of {len(views)} did not "
                                     f"(first: router {v['id']})")
            else:
                time.sleep(0.005)
    finally:
        api.close()
    if len(views) < n:
        raise AssertionError(f"only {len(views)} of {n} routers have an appliance address")
    return time.monotonic()


def interrupted(*_) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--routers", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=4, help="API clients creating routers")
    ap.add_argument("--fip-samples", type=int, default=20)
    ap.add_argument("--pingers", type=int, default=10,
                    help="instances pinging upstream through each restart")
    ap.add_argument("--idle-seconds", type=float, default=120.0)
    ap.add_argument("--timeout", type=float, default=0.0,
                    help="seconds any wait may take (default 120 + 1 per router)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="copy the stack's logs out before the cleanup (always on failure)")
    ap.add_argument("--raise-host-limits", action="store_true",
                    help="size the host's neighbour tables and backlog for the run "
                    "(restored after)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    if a.routers + 1 > BRIDGE_PORTS:  # each a gateway on the external network, and upstream
        raise SystemExit(f"--routers {a.routers}: the external network's bridge would need "
                         f"{a.routers + 1} ports; a Linux bridge takes at most {BRIDGE_PORTS}")
    # An appliance and a host each (what the compute agent sizes for), and one more
    # instance's worth per router for the upstream namespace, which stands for the
    # internet on this host: it learns each router's gateway and floating address
    # (dynamic entries in the host-wide table).
    with sized_for(3 * a.routers, a.raise_host_limits):
        return run(a)


def run(a: argparse.Namespace) -> int:
    timeout = a.timeout or 120.0 + a.routers
    signal.signal(signal.SIGTERM, interrupted)
    overflows = probes.KernelLog("neighbor table overflow")
    kernel_before = probes.kernel_memory()
    stack = Stack("scale", a.routers)
    topo = None
    status = 0
    try:
        stack.start(timeout)
        print(f"stack up: state {stack.state}, RPC {stack.rpc_url}")
        topo = Topology(stack, a.parallel)
        topo.open()
        marks = topo.build(a.routers, timeout)
        report_build(a.routers, marks, boots(stack), counters(stack), breaker(stack))
        lat = [topo.fip_latency(r, timeout) for r in sample(topo.routers, a.fip_samples)]
        print(f"floating IP associate -> traffic flows: p50 {statistics.median(lat) * 1000:.0f}"
              f" ms, p99 {pct(lat, 0.99) * 1000:.0f} ms over {len(lat)} (target p99 <= 100 ms "
              "at 1,000 routers)")
        measure_memory(stack, a.routers, kernel_before)
        measure_idle_cpu(stack, a.routers, a.idle_seconds)
        for name in ("orchestrator", "appliance-agent"):
            measure_restart(stack, topo, name, a.pingers, timeout)
        topo.forwarding(topo.routers, timeout)
        print(f"routers forwarding at the end: {a.routers} of {a.routers} (target all); "
              f"appliance rebuilds in the whole run: {boots(stack)} (target 0){breaker(stack)}")
    except Exception as exc:  # any failure: say what, then clean up all the same
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop this
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("kernel 'neighbor table overflow' messages during the run: "
              + overflows.close())
        if (status == 1 or a.keep_logs) and (stack.state / "logs").exists():
            kept = Path(f"{stack.state}-logs")
            shutil.copytree(stack.state / "logs", kept, dirs_exist_ok=True)
            print(f"the stack's logs are copied to {kept}", file=sys.stderr)
        if topo is not None:
            topo.upstream.close()
        stack.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
