"""An appliance's plug with N appliances already on the host, step by step (root).

The phase "compute agent: namespace + ports ready (create.end)" of
``orchestrator_e2e.py`` grows with the routers on the host. This times what the
compute agent does for it: the job of one appliance's create (its management,
gateway and interface ports, as the orchestrator boots it) run by the agent over a
SQLite database of its own, from its ``create.start`` outbox row to its ``create.end``
row as the e2e bench reads them, with none and then with ``--existing`` appliances
created the same way (8 jobs at a time, as the agent's workers). Each job is split
into the claim's end, ``NetnsBackend.create`` (itself split by the runner calls it
made: ``ip -batch`` on the host, ``nft -f``, rtnetlink writes, sysctls, and the rest,
Python) and the job's finish. It then times the host lines of one more plug each in
an ``ip`` process of its own, to say which line grows; with ``--profile`` (``perf``
installed), one more plug's host lines in one ``ip -batch`` and its management port's
chain in one ``nft -f`` under ``perf record``, with and without the others, printing
the kernel functions that took their CPU (what grows: docs/compute.md).

It runs in a scratch network namespace of its own standing for the host (its
bridges and taps; the appliances' namespaces carry a prefix of the run's own), in
a mount namespace of its own (``ip netns exec``): the appliances' namespaces are
seen by this run only and go with it; the scratch namespace and the names left in
/run/netns are removed at the end.
With ``--reconcile``, it also times one light reconcile pass (the agent's periodic
one) over the host under cProfile and prints the costliest calls.
Usage: sudo .venv/bin/python bench/appliance_plug.py [--existing 1000] [--samples 10]
[--profile] [--reconcile]
Hold /tmp/astara-functional.lock (flock) while it runs when others test on the host.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astara.bus.outbox import OutboxPublisher, OutboxRow  # noqa: E402
from astara.bus.wakeup import WakeupDir  # noqa: E402
from astara.common.settings import sqlite_url  # noqa: E402
from astara.compute_service import catalog, jobs  # noqa: E402
from astara.compute_service.agent import antispoof, reconcile  # noqa: E402
from astara.compute_service.agent.backend import InstanceSpec  # noqa: E402
from astara.compute_service.agent.bridge_ports import BRIDGE_PORTS  # noqa: E402
from astara.compute_service.agent.netns import NETNS_DIR, NetnsBackend  # noqa: E402
from astara.compute_service.agent.runner import SubprocessRunner  # noqa: E402
from astara.compute_service.agent.worker import LIGHT_FIX, Agent  # noqa: E402
from astara.compute_service.models import Instance  # noqa: E402
from astara.db import migrate  # noqa: E402
from astara.db.engine import Database  # noqa: E402

TARGET_MS = 41  # the phase with no other router (bench/orchestrator_e2e.py, quiet)


def label(argv: list[str]) -> str:
    if argv[0] == "ip" and "-batch" in argv:
        return "ip -batch" + (" (namespace)" if "-n" in argv else " (host)")
    return " ".join(argv[:2])


class TimedRunner(SubprocessRunner):
    """The real runner, adding up the seconds of each kind of call."""

    def __init__(self):
        self.spent: dict[str, float] = defaultdict(float)
        self._in_batch = 0.0  # run() seconds inside the current batch()

    def _add(self, what: str, seconds: float) -> None:
        self.spent[what] += seconds

    def run(self, argv, check=True, stdin=None):
        t0 = time.perf_counter()
        try:
            return super().run(argv, check, stdin)
        finally:
            took = time.perf_counter() - t0
            self._in_batch += took
            self._add(label(argv), took)

    def batch(self, lines, netns=None):
        self._in_batch = 0.0
        t0 = time.perf_counter()
        try:
            super().batch(lines, netns)
        finally:
            self._add("rtnetlink writes" + (" (namespace)" if netns else " (host)"),
                      time.perf_counter() - t0 - self._in_batch)

    def sysctl(self, netns, values):
        t0 = time.perf_counter()
        try:
            super().sysctl(netns, values)
        finally:
            self._add("sysctls (setns)", time.perf_counter() - t0)

    def links(self, netns):
        t0 = time.perf_counter()
        try:
            return super().links(netns)
        finally:
            self._add("links read (rtnetlink)", time.perf_counter() - t0)


class Host:
    """The appliances' specs: ports on the management network, one external network
    and a network of their own each, as the orchestrator boots them."""

    def __init__(self):
        self.mgmt, self.ext = str(uuid.uuid4()), str(uuid.uuid4())
        self.n = 0

    def spec(self) -> InstanceSpec:
        self.n += 1
        n = self.n

        def mac(kind: int) -> str:
            return f"fa:16:3e:{kind:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"

        ports = (
            {"port_id": str(uuid.uuid4()), "net_id": self.mgmt, "network_name": "astara-mgmt",
             "mac_address": mac(1), "port_security_enabled": True, "management": True,
             "fixed_ips": [{"ip_address": f"fdca:3ba5:a17a:acda::{n + 16:x}", "prefixlen": 64}]},
            {"port_id": str(uuid.uuid4()), "net_id": self.ext, "network_name": "public",
             "mac_address": mac(2), "port_security_enabled": False,
             "fixed_ips": [{"ip_address": f"100.64.{n >> 8}.{n & 255}", "prefixlen": 16}]},
            {"port_id": str(uuid.uuid4()), "net_id": str(uuid.uuid4()), "network_name": "private",
             "mac_address": mac(3), "port_security_enabled": False,
             "fixed_ips": [{"ip_address": "10.0.0.1", "prefixlen": 24}]})
        return InstanceSpec(str(uuid.uuid4()), f"ak-{n}", "appliance", ports)


HOST = "bench"


def queue(db: Database, spec: InstanceSpec) -> None:
    """The instance's row and its create job, as the compute API stores them."""
    stamp = jobs.now()
    with db.write() as s:
        row = Instance(id=spec.id, project_id="p", name=spec.name, host=HOST, flavor_id="42",
                       image_id=catalog.APPLIANCE_IMAGE, created_at=stamp, updated_at=stamp,
                       ports=list(spec.ports), metadata_={}, task_state="spawning")
        s.add(row)
        s.flush()
        jobs.queue(s, row, "create")


def events_at(db: Database, instance_id: str) -> dict[str, float]:
    """Wall-clock times of the instance's create.start and create.end outbox rows."""
    with db.read() as s:
        rows = s.execute(select(OutboxRow.event_type, OutboxRow.created_at)
                         .where(OutboxRow.body.like(f"%{instance_id}%"))).all()
    return {event.rsplit(".", 1)[-1]: at.replace(tzinfo=UTC).timestamp()
            for event, at in rows}


def sample(agent: Agent, runner: TimedRunner, host: Host) -> dict[str, float]:
    """One create job from its create.start row to its create.end row, split."""
    spec = host.spec()
    queue(agent.db, spec)
    runner.spent.clear()
    (job,) = agent.claim(1)
    claimed = time.time()
    backend, spent = agent.backend, {}
    create = backend.create

    def timed(s: InstanceSpec) -> str:
        t0 = time.perf_counter()
        try:
            return create(s)
        finally:
            spent["create"] = time.perf_counter() - t0
            spent["created"] = time.time()

    backend.create = timed
    try:
        agent.run_job(job)
    finally:
        del backend.create
    at = events_at(agent.db, spec.id)
    if "end" not in at:
        raise SystemExit(f"the create job of {spec.id} failed: {sorted(at)}")
    out = {"total": at["end"] - at["start"],
           "job: claim (after create.start)": claimed - at["start"],
           "job: finish (until create.end)": at["end"] - spent["created"],
           "create: total": spent["create"], **{f"create: {k}": v for k, v in runner.spent.items()}}
    out["create: rest (Python)"] = spent["create"] - sum(runner.spent.values())
    out["job: rest (handoff)"] = out["total"] - spent["create"] - \
        out["job: claim (after create.start)"] - out["job: finish (until create.end)"]
    return out


def report(title: str, samples: list[dict[str, float]]) -> None:
    total = statistics.median(s["total"] for s in samples) * 1000
    print(f"appliance create job, {title}: create.start -> create.end p50 {total:.1f} ms "
          f"(target <= {TARGET_MS} ms, the phase with no router), {len(samples)} jobs; "
          "p50 per step:")
    for key in sorted({k for s in samples for k in s} - {"total"}):
        print(f"  {key:32s} {statistics.median(s.get(key, 0.0) for s in samples) * 1000:7.1f} ms")


def plug_lines(backend: NetnsBackend, spec: InstanceSpec) -> list[str]:
    """The host lines of ``spec``'s plug: its namespace, bridges, veths."""
    ns = backend.netns(spec.id, spec.profile)
    lines = [f"netns add {ns}"]
    for i, port in enumerate(spec.ports):
        tap, br = backend.tap(port["port_id"]), backend.bridge(port["net_id"])
        if not (Path("/sys/class/net") / br).exists():
            lines.append(f"link add {br} type bridge")
        lines += [f"link add {tap} type veth peer name eth{i} address {port['mac_address']} "
                  f"netns {ns}", f"link set {tap} master {br} up"]
    return lines


def one_by_one(backend: NetnsBackend, host: Host, tag: str) -> None:
    """The host lines of one more plug, each in an ``ip`` process of its own."""
    spec = host.spec()
    lines = plug_lines(backend, spec)
    print("one more plug's host lines, each in an ip process of its own:")
    for line in lines:
        t0 = time.perf_counter()
        subprocess.run(["ip", *line.split()], check=True, capture_output=True)
        print(f"  {(time.perf_counter() - t0) * 1000:7.1f} ms  {line.replace(tag, '<tag>')}")


# Entries every profile shares (the way into the kernel, page faults, the loader).
_GENERIC = ("do_syscall_64", "entry_SYSCALL", "exc_page_fault", "_dl_", "[k] 0x", "[.] 0x",
            "[.] 000000", "mm_fault", "do_anonymous_page", "__libc_", "sys_sendmsg")
PROFILE_LINES = 24
PERF_HZ = 20000


def profiled(argv: list[str], stdin: str, title: str, out: Path) -> None:
    """``argv`` (reading ``stdin``) under ``perf record``: its CPU time (perf's
    samples) and the kernel functions that took the most of it, callees included."""
    data = out / "perf.data"
    subprocess.run(["perf", "record", "-q", "-g", "-e", "cpu-clock", "-F", str(PERF_HZ),
                    "-o", str(data), "--", *argv], input=stdin, text=True, check=True,
                   capture_output=True)
    report = subprocess.run(["perf", "report", "-i", str(data), "--children", "--sort", "sym",
                             "--stdio", "-g", "none", "--percent-limit", "3"],
                            capture_output=True, text=True, check=False).stdout
    # cpu-clock counts nanoseconds
    cpu_ns = next((int(line.rsplit(":", 1)[1]) for line in report.splitlines()
                   if line.startswith("# Event count")), 0)
    shown = [line.strip() for line in report.splitlines()
             if "%" in line and not line.startswith("#") and "[k]" in line
             and not any(g in line for g in _GENERIC)][:PROFILE_LINES]
    print(f"{title}: {cpu_ns / 1e6:.1f} ms of CPU; share of them (with callees):")
    for line in shown:
        print(f"    {line}")


def profile(backend: NetnsBackend, host: Host, tag: str, out: Path) -> None:
    """One more plug's host lines in one ``ip -batch`` and the chain of its management
    port in one ``nft -f``, each under ``perf record``."""
    spec = host.spec()
    lines = plug_lines(backend, spec)
    profiled(["ip", "-batch", "-"], "\n".join(lines) + "\n", "  ip -batch (host)", out)
    mgmt = spec.ports[0]
    profiled(["nft", "-f", "-"], antispoof.script(antispoof.chain_script(
        backend.tap(mgmt["port_id"]), mgmt)), "  nft -f (management port's chain)", out)


def reconcile_profiled(db: Database, backend: NetnsBackend, top: int = 15) -> None:
    """One light reconcile pass over the host (the agent's periodic one), under cProfile:
    its time and the functions that took the most of it (cumulative)."""
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    report_ = reconcile.run(db, backend, HOST, set(LIGHT_FIX))
    profiler.disable()
    took = time.perf_counter() - t0
    print(f"one reconcile pass over {report_['looked_at']['on_host']} instances: "
          f"{took:.2f} s under cProfile; the costliest calls (cumulative):")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines()
                    if line.strip() and not line.startswith(("   Ordered", "   List"))))


def inside(a: argparse.Namespace) -> None:
    state = Path(tempfile.mkdtemp(prefix="astara-bench-plug-"))
    db = Database(sqlite_url(state))
    migrate.upgrade(db.engine)
    runner = TimedRunner()
    backend = NetnsBackend(runner, state, f"apv-{a.tag}-", f"apb{a.tag}",
                           appliance_prefix=f"apa-{a.tag}-")
    agent = Agent(db, backend, HOST, OutboxPublisher(), WakeupDir(state / "jobs"))
    agent.register()
    host = Host()
    report("0 appliances on the host", [sample(agent, runner, host)
                                        for _ in range(a.samples)])
    if a.profile:
        print("one more plug profiled, 0 appliances on the host:")
        profile(backend, host, a.tag, state)
    t0 = time.monotonic()
    quiet = Agent(db, NetnsBackend(SubprocessRunner(), state, f"apv-{a.tag}-", f"apb{a.tag}",
                                   appliance_prefix=f"apa-{a.tag}-"),
                  HOST, OutboxPublisher(), WakeupDir(state / "jobs"))
    for _ in range(a.existing):
        queue(db, host.spec())
    with ThreadPoolExecutor(a.workers) as pool:  # as the agent's job workers
        while claimed := quiet.claim(a.workers):
            list(pool.map(quiet.run_job, claimed))
    print(f"{a.existing} more appliances created in {time.monotonic() - t0:.1f} s")
    report(f"{a.existing + a.samples} appliances on the host",
           [sample(agent, runner, host) for _ in range(a.samples)])
    if a.profile:
        print(f"one more plug profiled, {a.existing + a.samples} appliances on the host:")
        profile(backend, host, a.tag, state)
    if a.reconcile:
        reconcile_profiled(db, quiet.backend)
    one_by_one(backend, host, a.tag)
    db.dispose()
    shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--existing", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--profile", action="store_true",
                    help="also run one more plug's ip -batch and nft -f under perf record")
    ap.add_argument("--reconcile", action="store_true",
                    help="also time one periodic reconcile pass over the host, under cProfile")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    if a.profile and shutil.which("perf") is None:
        raise SystemExit("--profile needs perf (linux-perf)")
    # every appliance plugged (the samples twice, the existing, the profiled and the
    # one-by-one plugs) has a port on the one management and external bridges
    if (ports := a.existing + 2 * a.samples + 3) > BRIDGE_PORTS:
        raise SystemExit(f"--existing {a.existing} and twice --samples {a.samples} put "
                         f"{ports} ports on one bridge: a Linux bridge takes at most "
                         f"{BRIDGE_PORTS}")
    if a.inside:
        inside(a)
        return
    tag = secrets.token_hex(2)
    scratch = f"astara-bench-plug-{tag}"
    subprocess.run(["ip", "netns", "add", scratch], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", scratch, sys.executable, __file__, "--inside",
                        "--tag", tag, "--existing", str(a.existing), "--samples",
                        str(a.samples), "--workers", str(a.workers),
                        *(["--profile"] if a.profile else []),
                        *(["--reconcile"] if a.reconcile else [])], check=False)
    finally:
        subprocess.run(["ip", "netns", "del", scratch], check=False)
        # The appliances' names (their mounts went with the run's mount namespace).
        for name in os.listdir(NETNS_DIR):
            if name.startswith(f"apa-{tag}-"):
                (NETNS_DIR / name).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
