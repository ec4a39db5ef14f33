"""Notification latency over RabbitMQ: an outbox commit to the orchestrator's listener.

Starts a throw-away RabbitMQ (``tools/rabbitmq-loopback``) and a SQLite database in a
temporary directory, then runs what ``[bus] transport = amqp`` runs: the relay
(``bus.relay``: outbox rows after its cursor, woken by the commit's datagram, sent
with publisher confirms) and the orchestrator's notification listener
(``bus.amqp.AmqpConsumer``, exchanges ``neutron`` and ``nova``, its own pool queue).
Each of N ``router.update.end`` notifications is committed into the outbox as the
network service commits one, and timed from the end of its commit to its hand-over
to the listener's handler (intake's place), one in flight at a time (latency, not
throughput). Printed: p50, p99 and max, next to issue 13's target (p99 <= 30 ms).
Run it under the lock: ``flock /tmp/astara-functional.lock .venv/bin/python
bench/amqp_latency.py [--count 500]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from oslo_config import cfg

from astara.bus import amqp
from astara.bus.outbox import OutboxConsumer, OutboxPublisher
from astara.bus.relay import CONSUMER, TOPIC, Relay
from astara.bus.wakeup import WakeupDir
from astara.db import migrate
from astara.db.engine import Database

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 30.0


def notification(router_id: str) -> dict:
    return {"message_id": str(uuid.uuid4()), "publisher_id": "network.bench",
            "event_type": "router.update.end", "priority": "INFO",
            "payload": {"router": {"id": router_id, "name": "r"}},
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime()),
            "_context_project_id": "p"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(count: int, state: Path, url: str) -> list[float]:
    conf_file = state / "amqp.conf"
    conf_file.write_text(f"[DEFAULT]\ntransport_url = {url}\n")
    conf = cfg.ConfigOpts()
    conf(args=["--config-file", str(conf_file)], default_config_files=[],
         default_config_dirs=[])
    transport = amqp.transport(conf)
    db = Database(f"sqlite:///{state / 'astara.db'}")
    migrate.upgrade(db.engine)
    wake = WakeupDir(state / "bus")
    arrived: dict[str, float] = {}
    got = threading.Condition()

    def intake(msg) -> None:
        now = time.perf_counter()
        with got:
            arrived[msg.body["message_id"]] = now
            got.notify_all()

    stop = threading.Event()
    listener = amqp.AmqpConsumer(transport, "bench", (amqp.NEUTRON, amqp.NOVA))
    relay = Relay(OutboxConsumer(db, CONSUMER, topics=[TOPIC], wakeup=wake,
                                 max_idle_wait=5.0), amqp.OsloSender(transport))
    threads = [threading.Thread(target=listener.run, args=(intake, stop.is_set), daemon=True)]
    threads[0].start()
    if not listener.listening.wait(60):
        raise SystemExit("the listener did not start")
    threads.append(threading.Thread(target=relay.run, args=(stop.is_set,), daemon=True))
    threads[1].start()
    pub = OutboxPublisher(wake)
    router = str(uuid.uuid4())
    latencies: list[float] = []
    try:
        for i in range(count + 20):  # the first 20 warm the connections up, not counted
            body = notification(router)
            with db.write() as s:
                pub.publish(s, TOPIC, body)
            sent = time.perf_counter()
            pub.committed()
            with got:
                if not got.wait_for(lambda b=body: b["message_id"] in arrived, timeout=10):
                    raise SystemExit(f"notification {i} did not arrive in 10 s")
            if i >= 20:
                latencies.append((arrived[body["message_id"]] - sent) * 1000)
    finally:
        stop.set()
        relay.close()
        listener.close()
        for t in threads:
            t.join(10)
        transport.cleanup()
        db.dispose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="astara-amqp-bench."))
    broker = state / "rabbitmq"
    script = ROOT / "tools" / "rabbitmq-loopback"
    started = time.monotonic()
    url = subprocess.run([str(script), "start", str(broker)], check=True,
                         capture_output=True, text=True, timeout=180).stdout.strip()
    print(f"RabbitMQ on loopback started in {time.monotonic() - started:.1f} s")
    try:
        ms = run(args.count, state, url)
    finally:
        subprocess.run([str(script), "stop", str(broker)], check=False, timeout=120)
        shutil.rmtree(state, ignore_errors=True)
    p99 = percentile(ms, 99)
    print(f"notification latency, outbox commit -> orchestrator listener over RabbitMQ "
          f"({len(ms)} notifications, one in flight):")
    print(f"  p50 {statistics.median(ms):.1f} ms   p99 {p99:.1f} ms   max {max(ms):.1f} ms"
          f"   (target: p99 <= {TARGET_P99_MS:.0f} ms: "
          f"{'met' if p99 <= TARGET_P99_MS else 'NOT met'})")


if __name__ == "__main__":
    main()
