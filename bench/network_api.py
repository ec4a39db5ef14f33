"""Network API benchmark: port-create throughput and notification delivery latency.

Starts ``astara-network-api`` as a separate process (``--workers`` API processes,
default: as configured, one per core) on a fresh SQLite state directory (the
embedded default), creates a network and subnet, then:
  * port create throughput: N POST /v2.0/ports from C client threads (requests/s),
    each a keep-alive connection of the standard library's ``http.client`` (a light
    client: on a small host the load generator shares the cores with the API);
  * notification latency: an outbox consumer in this process, woken by the
    publisher's wake-up; latency = consumer receive time - the message's own
    ``timestamp`` (taken in the API just before commit), for port.create.end;
  * SQL statements per port create: one more port created in this process through
    the service, on the same database, counting the statements sent.
  * CPU per port create, while the requests run: the API's processes (read from
    /proc), the HTTP clients and the notification consumer (this process's threads),
    and their sum next to what 250 requests/s on this machine's cores allows.
Prints each figure next to issue 11's target; asserts nothing.
Usage: bench/network_api.py [--ports N] [--clients C] [--workers W]
"""

from __future__ import annotations

import argparse
import http.client
import json
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

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import free_port, wait_for  # noqa: E402

from astara.bus.outbox import OutboxConsumer, OutboxPublisher  # noqa: E402
from astara.bus.wakeup import WakeupDir  # noqa: E402
from astara.common.settings import defaults  # noqa: E402
from astara.db.engine import Database  # noqa: E402
from astara.network_service import attributes  # noqa: E402
from astara.network_service.context import RequestContext  # noqa: E402
from astara.network_service.service import NetworkService  # noqa: E402

IDLE = defaults().bus.max_idle_wait
HEADERS = {"X-Project-Id": "bench", "X-Roles": "member", "Content-Type": "application/json"}
TARGET_RATE = 250.0  # port creates/s with 8 clients on SQLite
TARGET_P99_MS = 30.0  # notification latency commit -> consumer
LIMIT = 500  # messages the consumer reads at once


def start_api(state: Path, port: int, workers: int | None = None) -> subprocess.Popen:
    """``astara-network-api`` on ``state``'s SQLite, once it answers (workers: as
    configured when None)."""
    conf = state / "bench.conf"
    conf.write_text(f"[network_service]\nbind_port = {port}\n"
                    + ("" if workers is None else f"workers = {workers}\n"))
    exe = Path(sys.executable).parent / "astara-network-api"
    proc = subprocess.Popen([str(exe), "--state-path", str(state), "--config-file", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        if proc.poll() is not None:
            raise SystemExit("network API exited")
        try:
            return call(http.client.HTTPConnection("127.0.0.1", port, timeout=2),
                        "GET", "/")[0] == 200
        except OSError:
            return False

    wait_for(answers, timeout=120, what="the network API", every=0.05)
    return proc


def call(conn: http.client.HTTPConnection, method: str, path: str,
         body: dict | None = None) -> tuple[int, dict]:
    conn.request(method, path, body=json.dumps(body) if body else None, headers=HEADERS)
    answer = conn.getresponse()
    data = answer.read()
    return answer.status, json.loads(data) if data else {}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def statements_per_port_create(db: Database, state: Path, net_id: str) -> int:
    """SQL statements one port create sends (BEGIN included, COMMIT not: it is no
    statement), counted on this process's engine."""
    service = NetworkService(db, OutboxPublisher(WakeupDir(state / "bus")),
                             defaults(state).network)
    ctx = RequestContext.from_headers({"x-project-id": "bench", "x-roles": "member"})
    body = {"network_id": net_id}
    item = attributes.parse_body(attributes.PORT, {"port": body}, ctx, create=True)
    sent: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        service.create(ctx, "ports", [item], [body])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    if os.environ.get("BENCH_DEBUG"):
        for statement in sent:
            print("  ", " ".join(statement.split())[:120])
    return len(sent)


def cpu_seconds(pids: list[int | str]) -> float:
    """User + system CPU the processes (or "PID/task/TID" threads) have used: utime and
    stime of /proc/.../stat."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(c) for c in children.read_text().split())] if children.exists() else [pid]


def api_processes(pid: int) -> int:
    """The API's supervisor (if any) and workers: the process and its children."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    workers = [c for c in children.read_text().split()
               if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()] \
        if children.exists() else []
    return len(workers) or 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0,
                    help="[network_service] workers (0: one per core, the default)")
    args = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="astara-bench-"))
    port = free_port()
    proc = start_api(state, port, args.workers)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        _, net = call(conn, "POST", "/v2.0/networks", {"network": {"name": "bench"}})
        net_id = net["network"]["id"]
        status, _ = call(conn, "POST", "/v2.0/subnets", {"subnet": {
            "network_id": net_id, "ip_version": 4, "cidr": "10.0.0.0/16"}})
        assert status == 201, status
        processes = wait_for(lambda: api_processes(proc.pid) >= max(args.workers, 1)
                             and api_processes(proc.pid), what="the API workers")
        db = Database(f"sqlite:///{state / 'astara.sqlite'}")
        consumer = OutboxConsumer(db, "bench", wakeup=WakeupDir(state / "bus"), max_idle_wait=IDLE)
        consumer.ack(max((m.position for m in consumer.fetch(10_000)), default=0))
        latencies: list[float] = []
        done = threading.Event()
        consumer_tid: list[int] = []

        def consume() -> None:
            consumer_tid.append(threading.get_native_id())
            while not done.is_set() or consumer.fetch(1):
                batch = consumer.fetch(LIMIT)
                now = time.time()
                for m in batch:
                    if m.event_type == "port.create.end":
                        ts = datetime.strptime(m.body["timestamp"], "%Y-%m-%d %H:%M:%S.%f")
                        latencies.append(now - ts.replace(tzinfo=UTC).timestamp())
                if batch:
                    consumer.ack(batch[-1].position)
                if len(batch) < LIMIT:
                    # All there was: sleep until a commit wakes us (its wake-up waits in
                    # the socket if it came since this fetch), not on an empty re-read.
                    consumer.wait(0.5)

        reader = threading.Thread(target=consume)
        reader.start()
        wait_for(lambda: consumer_tid, what="the consumer thread")
        consumer_stat = f"{os.getpid()}/task/{consumer_tid[0]}"
        local = threading.local()

        def create(_: int) -> int:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            return call(local.conn, "POST", "/v2.0/ports", {"port": {"network_id": net_id}})[0]

        api_pids = process_tree(proc.pid)
        api0, cpu0, con0 = cpu_seconds(api_pids), os.times(), cpu_seconds([consumer_stat])
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            codes = list(pool.map(create, range(args.ports)))
        elapsed = time.perf_counter() - t0
        api1, cpu1, con1 = cpu_seconds(api_pids), os.times(), cpu_seconds([consumer_stat])
        done.set()
        reader.join(60)
        ok = codes.count(201)
        rate = ok / elapsed
        print(f"port create: {ok}/{args.ports} created by {args.clients} clients in "
              f"{elapsed:.2f} s = {rate:.0f} requests/s (target >= {TARGET_RATE:.0f}; "
              f"SQLite, {processes} API process{'es' if processes > 1 else ''}) "
              f"{'OK' if rate >= TARGET_RATE else 'MISSED'}")
        if latencies:
            ms = [x * 1000 for x in latencies]
            p99 = pct(ms, 0.99)
            if os.environ.get("BENCH_DEBUG"):
                worst = sorted(range(len(ms)), key=lambda i: -ms[i])[:8]
                print("worst (index, ms):", [(i, round(ms[i])) for i in worst])
            print(f"notification latency (commit -> consumer), {len(ms)} messages: "
                  f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms "
                  f"(target <= {TARGET_P99_MS:.0f} ms) {'OK' if p99 <= TARGET_P99_MS else 'MISSED'}"
                  f", max {max(ms):.1f} ms")
        consumer.close()
        print(f"SQL statements per port create: {statements_per_port_create(db, state, net_id)} "
              f"(was 12 before issue 11)")
        db.dispose()
        # This process's CPU during the run, less its consumer thread's, is the clients'.
        per = 1000 / args.ports
        api_ms = (api1 - api0) * per
        consumer_ms = (con1 - con0) * per
        client_ms = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) * per - consumer_ms
        budget = (os.cpu_count() or 1) * 1000 / TARGET_RATE
        total = api_ms + client_ms + consumer_ms
        plural = "es" if len(api_pids) > 1 else ""
        print(f"CPU per port create during the run: API {api_ms:.2f} ms "
              f"({len(api_pids)} process{plural}), HTTP clients {client_ms:.2f} ms, notification "
              f"consumer {consumer_ms:.2f} ms; total {total:.2f} ms (target <= {budget:.1f} ms: "
              f"{TARGET_RATE:.0f}/s on {os.cpu_count()} cores) "
              f"{'OK' if total <= budget else 'MISSED'}")
    finally:
        proc.terminate()
        proc.wait(30)
        subprocess.run(["rm", "-rf", str(state)], check=False)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
