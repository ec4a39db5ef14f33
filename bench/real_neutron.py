"""Router-ready latency against a REAL neutron-server next to the embedded network API
(root; takes the functional-test lock's place: run it under
``flock /tmp/astara-functional.lock``).

Real: tests/real_neutron_stack.py (RabbitMQ, Keystone, Neutron 29.0.0 under uWSGI,
``tools/aio --keystone`` with ``[bus] transport = amqp``); routers are made on Neutron
with openstacksdk as the demo member, and intake hears of them from Neutron's own
notifications over RabbitMQ. Embedded: bench/orchestrator_e2e.py with no existing
routers. The same measure in both (``Bench.ready_latency``): router + gateway +
interface calls -> a host behind the router first pings upstream through SNAT.
Usage: sudo .venv/bin/python bench/real_neutron.py [--samples 8] [--no-embedded]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import openstack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import orchestrator_e2e  # noqa: E402
from bench.orchestrator_e2e import BIN, Bench, pct  # noqa: E402
from tests import real_neutron_stack  # noqa: E402
from tests.functional.e2e.conftest import aio_conf  # noqa: E402


class RealNeutronBench(Bench):
    """``Bench`` with its clients on the real Neutron (through Keystone's catalog)."""

    def __init__(self, state: Path, ports: dict):  # noqa: D107 - Bench's, other clients
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(state / "clouds.yaml")
        self.admin = openstack.connect(cloud="astara-admin")
        self.user = openstack.connect(cloud="astara")
        self.rpc = f"http://127.0.0.1:{ports['rpc']}"
        self.state = state
        self.n = 0
        self.open_public("rnb")


def real(samples: int) -> list[float]:
    state = Path(f"/tmp/astara-bench-rn-{os.getpid()}")
    state.mkdir(mode=0o711)
    try:
        with real_neutron_stack.running(state, aio_conf) as (ports, took):
            print(f"real-neutron harness up in {took:.1f} s", flush=True)
            bench = RealNeutronBench(state, ports)
            try:
                return [s.forwarded - s.t0 for s in (bench.ready_latency()
                                                     for _ in range(samples))]
            finally:
                bench.upstream.close()
    finally:
        # The appliances and instances outlive the stack (as VMs outlive Nova).
        subprocess.run([str(BIN / "astara-netns-cleanup"), "--force"], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--no-embedded", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    took = real(a.samples)
    print(f"router ready latency, real Neutron 29.0.0: p50 {statistics.median(took):.2f} s, "
          f"p99 {pct(took, 0.99):.2f} s ({len(took)} routers)", flush=True)
    if not a.no_embedded:
        print("embedded network API (bench/orchestrator_e2e.py --existing 0):", flush=True)
        orchestrator_e2e.run(argparse.Namespace(samples=a.samples, existing=0))


if __name__ == "__main__":
    main()
