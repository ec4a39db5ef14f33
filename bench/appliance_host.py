"""Host-mode appliance agent benchmark: discovery, status CPU, restart. Run as root, under
the functional lock (it starts a real agent and makes namespaces):

    flock /tmp/astara-functional.lock .venv/bin/python bench/appliance_host.py \
        [--appliances 20] [--calls 2000] [--scan-interval S] [--restart-signal kill|term]
    ... bench/appliance_host.py --first-push-at 0 100 300 [--pushes 7] [--checks-per-minute 1000]

One real `astara-appliance-agent --mode host` process (this checkout's), on a
prefix of its own, then:

- **discovery**: for each of `--appliances` namespaces, the time from `ip netns add`
  to the agent's listening socket answering `GET /v1/status/` inside it. The
  namespace is made the way the compute agent makes an appliance: the namespace,
  then its interfaces (veth pairs inside it, nothing outside) brought up and the
  management address added, in one `ip -batch`. "after the address" is the agent's
  own share: from the moment the address is there.
- **status CPU**: each appliance gets the example router document (two dnsmasq
  each), then `--calls` status calls go round-robin, one connection each (as a
  health check does); the agent's CPU time (user + system, from /proc) per call,
  and what 1,000 routers checked every 60 s would cost the agent.
- **restart**: the agent is killed (`kill -9`; `--restart-signal term` for a clean
  stop) and started again: the time until every appliance answers status with
  the digest it had, split into the agent's start (imports, until it watches) and
  the cost per appliance, and projected to 1,000 appliances next to the issue's
  10 s target; how many dnsmasq processes were restarted (pid changed), and how
  many re-PUTs of the same document changed something.

With ``--first-push-at N ...`` it measures only this: one new appliance's first
config push while N appliances (configured, two dnsmasq each) are already served
and health-checked: a thread makes status calls to them, round-robin, at
``--checks-per-minute`` (default 1,000: what 1,000 routers checked every 60 s
cost, whatever N). For each N, ``--pushes`` new namespaces are made, each waited
for until it answers status, then pushed the example router document once (as the
orchestrator's first push); the p50 of the PUT as the bench sees it is split by the
agent's ``Server-Timing`` answer (`appliance.phases`): the wait for the lock and a
worker thread, parse, render, nft, dnsmasq, ... and what is outside the handler
(connection, HTTP, the event loop's turn). Those pushed appliances then count among
the next N.

Figures are printed next to the issue's targets; the machine is shared, so
compare runs made under the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from astara.appliance.apply.netns import entered
from astara.appliance.phases import parse_server_timing
from astara.wire import auth, examples

KEY = b"bench-deployment-key"
PORT = 5000
MACS = (examples.MGMT_MAC, examples.EXT_MAC, examples.INT1_MAC, examples.INT2_MAC)
READY = "watching /run/netns for namespaces named"


def sh(*args: str, stdin: str | None = None) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True, input=stdin)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Lab:
    def __init__(self, work: Path, scan_interval: float | None) -> None:
        self.work, self.scan_interval = work, scan_interval
        self.prefix = f"astbh{secrets.token_hex(2)}-"
        self.namespaces: list[str] = []
        self.agent: subprocess.Popen | None = None
        self.key_file = work / "key"
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(KEY)
        self.log = work / "agent.log"

    # the agent -------------------------------------------------------------------
    def start_agent(self) -> float:
        """Start the agent; the time until it watches (its imports and setup)."""
        seen = self.log.read_text().count(READY) if self.log.exists() else 0
        cmd = [sys.executable, "-m", "astara.appliance.cli", "--mode", "host",
               "--netns-prefix", self.prefix, "--state-dir", str(self.work / "state"),
               "--auth-key-file", str(self.key_file), "--log-level", "INFO"]
        if self.scan_interval is not None:
            cmd += ["--scan-interval", str(self.scan_interval)]
        t = time.perf_counter()
        with self.log.open("a") as out:
            self.agent = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while self.log.read_text().count(READY) <= seen:
            if self.agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the agent did not start:\n{self.log.read_text()}")
            time.sleep(0.005)
        return time.perf_counter() - t

    def stop_agent(self, sig: int = signal.SIGTERM) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(sig)
            try:
                self.agent.wait(30)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait(5)
        self.agent = None

    def agent_cpu(self) -> float:
        assert self.agent is not None
        fields = Path(f"/proc/{self.agent.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # appliances ------------------------------------------------------------------
    def address(self, i: int) -> str:
        return f"fdca::1:{i + 2:x}"

    def make(self, i: int) -> str:
        """The appliance namespace as the compute agent leaves it: interfaces up, the
        management address on eth0."""
        ns = f"{self.prefix}{i}"
        self.namespaces.append(ns)
        sh("ip", "netns", "add", ns)
        lines = [f"link add eth{k} address {mac} type veth peer name pe{k}"
                 for k, mac in enumerate(MACS)]
        lines += [f"link set {n}{k} up" for k in range(len(MACS)) for n in ("pe", "eth")]
        lines += ["link set lo up", f"addr add {self.address(i)}/64 dev eth0 nodad"]
        sh("ip", "-n", ns, "-batch", "-", stdin="\n".join(lines) + "\n")
        return ns

    def request(self, i: int, method: str, path: str, body: bytes = b"",
                timeout: float = 10.0, connect_timeout: float = 10.0) -> tuple[int, bytes]:
        """One HTTP/1.1 exchange on a fresh connection from inside the namespace."""
        code, _, payload = self.exchange(i, method, path, body, timeout, connect_timeout)
        return code, payload

    def exchange(self, i: int, method: str, path: str, body: bytes = b"",
                 timeout: float = 10.0,
                 connect_timeout: float = 10.0) -> tuple[int, bytes, bytes]:
        """`request`, with the response's head too."""
        ns = self.namespaces[i]
        secret = auth.appliance_secret(KEY, ns.removeprefix(self.prefix))
        with entered(ns):
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        with sock:
            sock.settimeout(connect_timeout)
            sock.connect((self.address(i), PORT))
            sock.settimeout(timeout)
            sock.sendall((f"{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                          f"{auth.HEADER}: {auth.bearer(secret)}\r\n"
                          f"Content-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), head, payload

    def wait_status(self, i: int, timeout: float = 30.0, poll: float = 0.0005) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:  # a connect made a moment after `ip addr add` may go out to find the
                # address as a neighbour (its local route comes from a kernel work item
                # just after): 3 s before EHOSTUNREACH. Not the agent's time: cut it short.
                code, body = self.request(i, "GET", "/v1/status/", connect_timeout=0.05)
                if code == 200:
                    return json.loads(body)
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"appliance {i} never answered:\n{self.log.read_text()}")
            time.sleep(poll)

    def document(self, i: int) -> bytes:
        doc = examples.router_document(1)
        doc["networks"][0]["interface"]["addresses"] = [f"{self.address(i)}/64"]
        return json.dumps(doc).encode()

    def dnsmasq_pids(self) -> dict[str, int]:
        return {str(p.relative_to(self.work)): int(p.read_text().strip() or 0)
                for p in sorted((self.work / "state").glob("*/dnsmasq-*.pid"))}

    def destroy(self) -> None:
        self.stop_agent()
        for pid in self.dnsmasq_pids().values():  # ours: their conf is in our state
            try:
                if str(self.work).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def bench_discovery(lab: Lab, count: int) -> None:
    total, after = [], []
    for i in range(count):
        t0 = time.perf_counter()
        lab.make(i)
        t1 = time.perf_counter()
        lab.wait_status(i)
        t2 = time.perf_counter()
        total.append(t2 - t0)
        after.append(t2 - t1)
    ms = 1e3
    print(f"discovery ({count} namespaces): ip netns add -> status answers "
          f"p50 {pct(total, .5) * ms:.1f} ms, p99 {pct(total, .99) * ms:.1f} ms; after the "
          f"address is there p50 {pct(after, .5) * ms:.1f} ms, p99 {pct(after, .99) * ms:.1f} ms"
          f" (a few ms of router ready p50 <= 300 ms)")


def configure(lab: Lab, count: int) -> dict[int, str]:
    return {i: configure_one(lab, i) for i in range(count)}


def bench_status(lab: Lab, count: int, calls: int) -> None:
    for i in range(count):  # warm: the first answer of each may build what is cached
        lab.wait_status(i)
    wall: list[float] = []
    cpu0 = lab.agent_cpu()
    for n in range(calls):
        t = time.perf_counter()
        code, _ = lab.request(n % count, "GET", "/v1/status/")
        wall.append(time.perf_counter() - t)
        assert code == 200, code
    per_call = (lab.agent_cpu() - cpu0) / calls
    share = per_call * 1000 / 60 * 100
    print(f"status ({calls} calls over {count} configured appliances): agent CPU "
          f"{per_call * 1e3:.3f} ms per call, latency p50 {pct(wall, .5) * 1e3:.2f} ms, "
          f"p99 {pct(wall, .99) * 1e3:.2f} ms; 1,000 routers every 60 s: {share:.2f}% of a "
          f"core (target: orchestrator + agent <= 5%)")


def bench_restart(lab: Lab, count: int, digests: dict[int, str], sig: int) -> None:
    before = lab.dnsmasq_pids()
    lab.stop_agent(sig)
    t = time.perf_counter()
    started = lab.start_agent()
    cpu0 = lab.agent_cpu()
    # Polled every 5 ms, not 0.5: on 2 cores a busier poll takes CPU from the agent.
    wrong = [i for i in range(count)
             if lab.wait_status(i, poll=0.005)["config_digest"] != digests[i]]
    took = time.perf_counter() - t
    cpu = lab.agent_cpu() - cpu0
    per = (took - started) / count
    print(f"restart ({count} appliances, {signal.Signals(sig).name}): every appliance "
          f"answering with its digest again in {took:.2f} s = agent start {started:.2f} s + "
          f"{per * 1e3:.2f} ms per appliance (agent CPU {cpu / count * 1e3:.2f} ms each); "
          f"projected to 1,000: {started + per * 1000:.1f} s (target <= 10 s)")
    after = lab.dnsmasq_pids()
    restarted = sum(1 for k, pid in before.items() if after.get(k) != pid)
    changed = 0
    for i in range(count):
        code, body = lab.request(i, "PUT", "/v1/system/config/", lab.document(i), timeout=60)
        changed += code != 200 or json.loads(body)["changed"]
    print(f"restart ({count} appliances, {len(before)} dnsmasq): digest lost: {len(wrong)}, "
          f"dnsmasq restarted: {restarted}, re-PUTs that changed something: {changed} "
          f"(targets 0)")


class HealthChecks:
    """Status calls to the first `count` appliances, round-robin, at a steady rate
    (the orchestrator's health checks), from a thread, until stopped."""

    def __init__(self, lab: Lab, per_minute: float) -> None:
        self.lab, self.interval = lab, 60.0 / per_minute
        self.count, self.calls, self.failed = 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        n, due = 0, time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += self.interval
            if self.count == 0:
                continue
            try:
                code, _ = self.lab.request(n % self.count, "GET", "/v1/status/")
                self.failed += code != 200
            except OSError:
                self.failed += 1
            self.calls += 1
            n += 1


def first_pushes(lab: Lab, pushes: int) -> list[tuple[float, dict[str, float]]]:
    """`pushes` new appliances, each made, answering, then pushed once: the PUT's
    time as the bench sees it and the agent's phases."""
    out = []
    for _ in range(pushes):
        i = len(lab.namespaces)
        lab.make(i)
        lab.wait_status(i, poll=0.005)
        t = time.perf_counter()
        code, head, body = lab.exchange(i, "PUT", "/v1/system/config/", lab.document(i),
                                        timeout=60)
        took = time.perf_counter() - t
        if code != 200:
            raise SystemExit(f"PUT to appliance {i}: {code} {body[:300]!r}")
        timing = next((line.split(b":", 1)[1].decode() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"server-timing:")), "")
        out.append((took, parse_server_timing(timing)))
    return out


def split(samples: list[tuple[float, dict[str, float]]]) -> str:
    """p50 of each phase (ms), in the agent's order, then what was outside it."""
    names: list[str] = []
    for _, phases in samples:
        names += [n for n in phases if n not in names]
    med = {n: pct([p.get(n, 0.0) for _, p in samples], .5) * 1e3 for n in names}
    outside = pct([took - p.get("total", 0.0) for took, p in samples], .5) * 1e3
    # "fencing" and "apply" hold their own queue wait; "apply" holds the apply's phases
    shown = [f"{n} {med[n]:.1f}" for n in names if n not in ("apply", "total")]
    return (", ".join(shown) + f"; handler total {med.get('total', 0.0):.1f}, outside "
            f"the handler (connection, HTTP, event loop) {outside:.1f}")


def spawn_time() -> float:
    """The bench's own `dnsmasq --test` (a small process's spawn + dnsmasq's parse):
    what a growing agent's spawns are compared with. Median of 5."""
    took = []
    for _ in range(5):
        t = time.perf_counter()
        sh("dnsmasq", "--test", "--conf-file=/dev/null")
        took.append(time.perf_counter() - t)
    return pct(took, .5)


def bench_first_push(lab: Lab, counts: list[int], pushes: int, per_minute: float) -> None:
    checks = HealthChecks(lab, per_minute)
    checks.start()
    try:
        for n in counts:
            while len(lab.namespaces) < n:  # the served population, configured
                i = len(lab.namespaces)
                lab.make(i)
                lab.wait_status(i, poll=0.005)
                configure_one(lab, i)
                checks.count = len(lab.namespaces)
            cpu0 = lab.agent_cpu()
            calls0 = checks.calls
            t0 = time.perf_counter()
            samples = first_pushes(lab, pushes)
            wall = time.perf_counter() - t0
            checks.count = len(lab.namespaces)
            print(f"first push at {n} served ({checks.calls - calls0} status calls meanwhile, "
                  f"agent CPU {(lab.agent_cpu() - cpu0) / wall * 100:.0f}% of a core): "
                  f"PUT p50 {pct([t for t, _ in samples], .5) * 1e3:.1f} ms, "
                  f"max {max(t for t, _ in samples) * 1e3:.1f} ms (e2e phase 55 ms alone, "
                  f"127-235 ms at 1,010; router ready p50 <= 300 ms)")
            print(f"  split, p50 ms: {split(samples)}")
            rss = int(next(line.split()[1] for line in Path(
                f"/proc/{lab.agent.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")))
            print(f"  agent RSS {rss / 1024:.0f} MiB; the bench's own dnsmasq --test "
                  f"{spawn_time() * 1e3:.1f} ms")
    finally:
        checks.stop()
    if checks.failed:
        print(f"  health checks that failed: {checks.failed} of {checks.calls}")


def configure_one(lab: Lab, i: int) -> str:
    code, body = lab.request(i, "PUT", "/v1/system/config/", lab.document(i), timeout=60)
    if code != 200:
        raise SystemExit(f"PUT to appliance {i}: {code} {body[:300]!r}")
    return json.loads(body)["digest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appliances", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--scan-interval", type=float, default=None,
                        help="passed to the agent (default: the agent's own)")
    parser.add_argument("--restart-signal", choices=("kill", "term"), default="kill",
                        help="how the agent is stopped before the restart (default: kill -9)")
    parser.add_argument("--agent-log", type=Path, default=None,
                        help="keep the agents' log there")
    parser.add_argument("--first-push-at", type=int, nargs="+", default=None, metavar="N",
                        help="only measure a new appliance's first push with N served")
    parser.add_argument("--pushes", type=int, default=7,
                        help="first pushes measured at each N (--first-push-at)")
    parser.add_argument("--checks-per-minute", type=float, default=1000.0,
                        help="health checks' pace with --first-push-at")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="astara-bench-host-"))
    work.chmod(0o755)
    lab = Lab(work, args.scan_interval)
    try:
        print(f"agent started in {lab.start_agent():.2f} s")
        if args.first_push_at is not None:
            bench_first_push(lab, sorted(args.first_push_at), args.pushes,
                             args.checks_per_minute)
            return
        bench_discovery(lab, args.appliances)
        digests = configure(lab, args.appliances)
        bench_status(lab, args.appliances, args.calls)
        bench_restart(lab, args.appliances, digests,
                      signal.SIGKILL if args.restart_signal == "kill" else signal.SIGTERM)
    finally:
        lab.destroy()
        if args.agent_log is not None and lab.log.exists():
            shutil.copy(lab.log, args.agent_log)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
