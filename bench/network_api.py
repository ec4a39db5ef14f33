"""Network API benchmark: port-create throughput and notification delivery latency.

Starts ``astara-network-api`` as a separate process on a fresh SQLite state
directory (the embedded default), creates a network and subnet, then:
  * port create throughput: N POST /v2.0/ports from C client threads (requests/s);
  * notification latency: an outbox consumer in this process, woken by the
    publisher's wake-up; latency = consumer receive time - the message's own
    ``timestamp`` (taken in the API just before commit), for port.create.end.
Prints the figures; no assertion. Usage: bench/network_api.py [--ports N] [--clients C]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from astara.common.settings import defaults as common_defaults

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import free_port  # noqa: E402

from astara.bus.outbox import OutboxConsumer  # noqa: E402
from astara.bus.wakeup import WakeupDir  # noqa: E402
from astara.db.engine import Database  # noqa: E402

IDLE = common_defaults().bus.max_idle_wait

HEADERS = {"X-Project-Id": "bench", "X-Roles": "member"}


def start_api(state: Path, port: int, workers: int) -> subprocess.Popen:
    conf = state / "bench.conf"
    conf.write_text(f"[network_service]\nbind_port = {port}\nworkers = {workers}\n")
    exe = Path(sys.executable).parent / "astara-network-api"
    proc = subprocess.Popen([str(exe), "--state-path", str(state), "--config-file", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("network API did not start")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="astara-bench-"))
    port = free_port()
    proc = start_api(state, port, args.workers)
    try:
        base = f"http://127.0.0.1:{port}/v2.0"
        with httpx.Client(base_url=base, headers=HEADERS) as c:
            net = c.post("/networks", json={"network": {"name": "bench"}}).json()["network"]
            c.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                "cidr": "10.0.0.0/16"}}).raise_for_status()
        db = Database(f"sqlite:///{state / 'astara.sqlite'}")
        consumer = OutboxConsumer(db, "bench", wakeup=WakeupDir(state / "bus"), max_idle_wait=IDLE)
        consumer.ack(max((m.position for m in consumer.fetch(10_000)), default=0))
        latencies: list[float] = []
        done = threading.Event()

        def consume() -> None:
            while not done.is_set() or consumer.fetch(1):
                batch = consumer.fetch(500)
                now = time.time()
                for m in batch:
                    if m.event_type == "port.create.end":
                        ts = datetime.strptime(m.body["timestamp"], "%Y-%m-%d %H:%M:%S.%f")
                        latencies.append(now - ts.replace(tzinfo=UTC).timestamp())
                if batch:
                    consumer.ack(batch[-1].position)
                else:
                    consumer.wait(0.5)

        reader = threading.Thread(target=consume)
        reader.start()
        local = threading.local()

        def create(_: int) -> int:
            if not hasattr(local, "c"):
                local.c = httpx.Client(base_url=base, headers=HEADERS)
            return local.c.post("/ports", json={"port": {"network_id": net["id"]}}).status_code

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            codes = list(pool.map(create, range(args.ports)))
        elapsed = time.perf_counter() - t0
        done.set()
        reader.join(60)
        ok = codes.count(201)
        print(f"port create: {ok}/{args.ports} created by {args.clients} clients in "
              f"{elapsed:.2f} s = {ok / elapsed:.0f} requests/s (SQLite, 1 API process)")
        if latencies:
            ms = [x * 1000 for x in latencies]
            if os.environ.get("BENCH_DEBUG"):
                worst = sorted(range(len(ms)), key=lambda i: -ms[i])[:8]
                print("worst (index, ms):", [(i, round(ms[i])) for i in worst])
            print(f"notification latency (commit -> consumer), {len(ms)} messages: "
                  f"p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 0.99):.1f} ms, "
                  f"max {max(ms):.1f} ms")
        consumer.close()
        db.dispose()
    finally:
        proc.terminate()
        proc.wait(10)
        r = os.times()
        print(f"CPU: bench {r.user + r.system:.1f} s, "
              f"API {r.children_user + r.children_system:.1f} s")
        subprocess.run(["rm", "-rf", str(state)], check=False)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
