"""The host's DHCP lease after its router's first push, hop by hop (root).

The phases "host gets its DHCP lease" and "host's first packet forwarded" of
``orchestrator_e2e.py``, alone and finer. On a real all-in-one stack it boots a
host on a new network, then makes the router, exactly as ``orchestrator_e2e`` does
(``Bench.ready_latency``: the same pinger), and splits what follows the router's
first config push by what the stack recorded:

  pushed     the orchestrator's ``ConfigureVM ... in N ms`` line (its end; the port
             status is written before it, in the step's report)
  active     the orchestrator's ``port <id> ACTIVE`` line (after the network API's PUT)
  queued     the compute API's ``vif_plugged`` job for the host (``compute_jobs``:
             after Nova's external event, from the network service's notifier)
  spawned    the host's DHCP client started again (its pid file's mtime)
  done       the agent marked the job done
  bound      the client's lease file written (after its script set address and route)
  leased     the pinger that got through started (the host had a route by then)
  forwarded  its first reply

``--probe socket`` probes from a raw ICMP socket of the bench's own in the host's
namespace instead of ``orchestrator_e2e``'s ping process (one started again each
time it finds no route): ``leased`` is then the first echo let out, with no process
start in either milestone.
``--idle N`` adds N namespaces before measuring again: what 1,000 appliances cost
this chain (a process started with ``ip netns exec`` copies every namespace's mount)
without booting 1,000 routers; ``--idle-ports`` gives each a veth on the external
bridge (a broadcast there reaches every port; a run with 1,000 of them never reached
upstream: not understood yet). It also times a
process start in a namespace (``ip netns exec`` and ``nsenter --net``).
Usage: sudo .venv/bin/python bench/lease_chain.py [--samples 10] [--idle 1000]
Hold /tmp/astara-functional.lock (flock) while it runs.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.orchestrator_e2e import BIN, Bench, start_aio  # noqa: E402
from bench.ready_phases import _STAMP, _STEP, _log_time, _utc_time  # noqa: E402
from tests.support import wait_for  # noqa: E402

import astara  # noqa: E402
from astara.common.netns import entered  # noqa: E402
from astara.compute_service.agent.netns import bridge_name  # noqa: E402

_ACTIVE = re.compile(_STAMP + r" .*router (\S+): port (\S+) ACTIVE$")
HOPS = ["pushed", "active", "queued", "spawned", "done", "bound", "leased", "forwarded"]
IDLE = "lbench-idle-"


def job_times(db: Path, instance_id: str) -> tuple[float, float] | None:
    """(queued, done) of the instance's first ``vif_plugged`` job."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT created_at, updated_at FROM compute_jobs WHERE "
                          "instance_id = ? AND op = 'vif_plugged' AND status = 'done' "
                          "ORDER BY id LIMIT 1", (instance_id,)).fetchone()
    finally:
        con.close()
    return (_utc_time(row[0]), _utc_time(row[1])) if row else None


def _echo(ident: int, seq: int) -> bytes:
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    total = sum(struct.unpack("!4H", head))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return struct.pack("!BBHHH", 8, 0, ~total & 0xFFFF, ident, seq)


class Prober(threading.Thread):
    """Probes upstream from inside ``ns`` with a raw ICMP socket of this process, every
    2 ms, no process started: ``routed`` is the first echo the namespace let out (it
    had a route: its lease), ``answered`` the first reply."""

    def __init__(self, ns: str, target: str):
        super().__init__(daemon=True)
        self.ns, self.target = ns, target
        self.routed: float | None = None
        self.answered: float | None = None
        self.stop = False

    def run(self) -> None:
        with entered(self.ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        ident, seq = os.getpid() & 0xFFFF, 0
        try:
            while not self.stop and self.answered is None:
                seq = (seq + 1) & 0xFFFF
                try:
                    sock.sendto(_echo(ident, seq), (self.target, 0))
                    if self.routed is None:
                        self.routed = time.time()
                except OSError:  # no route yet (or the neighbour queue is full)
                    pass
                deadline = time.monotonic() + 0.002
                while (left := deadline - time.monotonic()) > 0:
                    if not select.select([sock], [], [], left)[0]:
                        break
                    data = sock.recv(2048)
                    ihl = (data[0] & 0x0F) * 4
                    kind, _, _, who = struct.unpack("!BBHH", data[ihl:ihl + 6])
                    if kind == 0 and who == ident:
                        self.answered = time.time()
                        break
        finally:
            sock.close()


def socket_latency(bench: Bench) -> tuple[str, float, float, float]:
    """As ``Bench.ready_latency`` with the in-process ``Prober``: (router id, when it
    was asked for, routed, answered)."""
    net_id, sub_id = bench.network()
    vm = bench.user.compute.create_server(name=f"bench-vm{bench.n}", image_id="astara-tenant",
                                          flavor_id="1", networks=[{"uuid": net_id}])
    wait_for(lambda: bench.user.compute.get_server(vm.id).status == "ACTIVE", 60, "vm ACTIVE")
    probe = Prober(f"astara-vm-{vm.id}", "100.64.0.1")
    probe.start()
    t0 = time.time()
    router_id = bench.router(sub_id)
    probe.join(180)
    probe.stop = True
    if probe.answered is None or probe.routed is None:
        raise AssertionError("the host behind the router never reached upstream")
    return router_id, t0, probe.routed, probe.answered


def tenants(state: Path) -> set[Path]:
    """The tenant instances' directories (each has its DHCP client's configuration)."""
    return {p.parent for p in state.rglob("dhclient.conf")}


def sample(bench: Bench, state: Path, probe: str) -> dict[str, float]:
    before = tenants(state)
    if probe == "ping":
        s = bench.ready_latency()
        router_id, at = s.router_id, {"forwarded": s.forwarded}
        if "leased" in s.at:
            at["leased"] = s.at["leased"]
    else:
        router_id, _, routed, answered = socket_latency(bench)
        at = {"leased": routed, "forwarded": answered}
    orch = (state / "logs" / "orchestrator.log").read_text(errors="replace")
    for line in orch.splitlines():
        if (m := _STEP.search(line)) and m[2] == router_id and m[3] == "ConfigureVM":
            at.setdefault("pushed", _log_time(m[1]))
        elif (m := _ACTIVE.search(line)) and m[2] == router_id:
            at.setdefault("active", _log_time(m[1]))
    hosts = list(tenants(state) - before)
    if len(hosts) == 1:
        vm = hosts[0]
        if (t := job_times(state / "astara.sqlite", vm.name)) is not None:
            at["queued"], at["done"] = t
        for name, f in (("spawned", "dhclient-eth0.pid"), ("bound", "dhclient-eth0.leases")):
            if (vm / f).exists():
                at[name] = (vm / f).stat().st_mtime
    return at


def report(label: str, samples: list[dict[str, float]]) -> None:
    total = [s["forwarded"] - s["pushed"] for s in samples if "pushed" in s]
    print(f"{label}: first push -> first packet p50 {statistics.median(total) * 1000:.0f} ms,"
          f" max {max(total) * 1000:.0f} ms ({len(total)} hosts); per hop (p50, from the"
          " previous one seen):")
    for i, hop in enumerate(HOPS[1:], 1):
        spans = []
        for s in samples:
            prev = next((s[p] for p in reversed(HOPS[:i]) if p in s), None)
            if hop in s and prev is not None:
                spans.append(s[hop] - prev)
        if spans:
            print(f"  {HOPS[i - 1] if i else ''} -> {hop:10s} p50 "
                  f"{statistics.median(spans) * 1000:6.1f} ms  max {max(spans) * 1000:6.1f} ms")
        else:
            print(f"  -> {hop:10s} not seen")


def process_start(ns: str, runs: int = 20) -> str:
    out = []
    for label, argv in (("ip netns exec", ["ip", "netns", "exec", ns, "true"]),
                        ("nsenter --net", ["nsenter", f"--net=/run/netns/{ns}", "true"])):
        took = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(argv, check=True)
            took.append(time.perf_counter() - t)
        out.append(f"{label} {statistics.median(took) * 1000:.1f} ms")
    return "a process started in a namespace, p50: " + ", ".join(out)


def add_idle(count: int, bridge: str | None) -> None:
    """``count`` namespaces; with ``bridge``, each with a veth on it (up on both sides)."""
    for i in range(count):
        subprocess.run(["ip", "netns", "add", f"{IDLE}{i}"], check=True)
    if bridge is None:
        return
    subprocess.run(["ip", "-batch", "-"], text=True, check=True, input="".join(
        f"link add {IDLE[:3]}{i} type veth peer name eth0 netns {IDLE}{i}\n"
        for i in range(count)))
    subprocess.run(["ip", "-batch", "-"], text=True, check=True, input="".join(
        f"link set {IDLE[:3]}{i} master {bridge} up\n" for i in range(count)))
    for i in range(count):
        subprocess.run(["nsenter", f"--net=/run/netns/{IDLE}{i}", "ip", "link", "set", "eth0",
                        "up"], check=True)


def remove_idle() -> None:
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(IDLE):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--idle-ports", action="store_true",
                    help="give each idle namespace a veth on the external bridge (a run "
                    "with 1,000 never reached upstream: not understood yet)")
    ap.add_argument("--probe", choices=("ping", "socket"), default="ping",
                    help="ping: orchestrator_e2e's pinger (a ping process in the host, "
                    "started again while it has no route); socket: a raw ICMP socket of "
                    "this process in the host's namespace, no process started")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    state = Path(f"/tmp/astara-bench-lease-{os.getpid()}")
    state.mkdir(mode=0o755)
    ports, aio = start_aio(state)
    bench = None
    try:
        wait_for(lambda: subprocess.run(
            ["curl", "-s", f"http://127.0.0.1:{ports['rpc']}/workers/"],
            capture_output=True).returncode == 0, 120, "stack up", 0.2)
        bench = Bench(state, ports)
        print(f"stack from {Path(astara.__file__).parent}, probe {a.probe}")
        print(process_start(bench.upstream.ns))
        report("no idle namespace", [sample(bench, state, a.probe) for _ in range(a.samples)])
        if a.idle:
            add_idle(a.idle, bridge_name("brq", bench.ext) if a.idle_ports else None)
            print(process_start(bench.upstream.ns))
            report(f"{a.idle} idle namespaces"
                   + (" on the external bridge" if a.idle_ports else ""),
                   [sample(bench, state, a.probe) for _ in range(a.samples)])
    finally:
        if bench is not None:
            bench.upstream.close()
        remove_idle()
        aio.send_signal(signal.SIGTERM)
        aio.wait(120)
        subprocess.run([str(BIN / "astara-netns-cleanup"), "--force"], capture_output=True)
        if keep := os.environ.get("ASTARA_BENCH_KEEP_LOGS"):
            shutil.copytree(state / "logs", Path(keep) / state.name, dirs_exist_ok=True)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
