"""Appliance agent benchmark: apply latency and host-mode memory. Run as root.

    .venv/bin/python bench/appliance_apply.py [--fips 1 100 1000] [--appliances 1 100 500]

Apply latency: a namespace with the example router's four interfaces (veth pairs
inside it, nothing outside), real pyroute2/nft/dnsmasq ports; the first full
config (with and without the dnsmasq start time) and a one-floating-IP change
(median of 9), for each floating IP count. Memory: RSS of this process after
`Host.add()` of N namespace appliances (API + metadata sockets in each).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from astara.appliance.converge import Appliance
from astara.appliance.host import Host, real_ports
from astara.wire import examples
from astara.wire.appliance_config import ApplianceConfig

MACS = (examples.MGMT_MAC, examples.EXT_MAC, examples.INT1_MAC, examples.INT2_MAC)


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def make_ns(name: str, macs: tuple[str, ...]) -> None:
    sh("ip", "netns", "add", name)
    for i, mac in enumerate(macs):
        sh("ip", "-n", name, "link", "add", f"ge{i}", "address", mac, "type", "veth",
           "peer", "name", f"pe{i}")
        sh("ip", "-n", name, "link", "set", f"pe{i}", "up")


class TimedDnsmasq:
    def __init__(self, inner) -> None:
        self.inner, self.start_time = inner, 0.0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def start(self, conf, pid_file):
        t = time.perf_counter()
        try:
            return self.inner.start(conf, pid_file)
        finally:
            self.start_time += time.perf_counter() - t


def config(n_fips: int, extra: int = 0) -> ApplianceConfig:
    return examples.router_config(n_fips + extra)


def bench_apply(n_fips: int, work: Path) -> dict[str, float]:
    ns = f"astb{secrets.token_hex(3)}"
    make_ns(ns, MACS)
    ports = real_ports(work)
    ports.dnsmasq = TimedDnsmasq(ports.dnsmasq)
    appliance = Appliance("bench", ns, work, 5000, ports)
    try:
        first = config(n_fips)
        t = time.perf_counter()
        result = appliance.apply(first)
        total = time.perf_counter() - t
        assert result.error is None, result.error
        changes = []
        for i in range(9):
            doc = config(n_fips, extra=1 if i % 2 == 0 else 0)
            t = time.perf_counter()
            result = appliance.apply(doc)
            changes.append(time.perf_counter() - t)
            assert result.error is None and result.nft == "delta", result
        return {"first_ms": total * 1e3,
                "first_excl_dnsmasq_ms": (total - ports.dnsmasq.start_time) * 1e3,
                "one_fip_change_ms": statistics.median(changes) * 1e3}
    finally:
        appliance.teardown()
        subprocess.run(["ip", "netns", "del", ns], check=False)


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def bench_memory(counts: list[int], work: Path) -> list[tuple[int, int]]:
    host = Host(work, api_port=5000)
    prefix = f"astm{secrets.token_hex(2)}"
    made, out = [], []
    try:
        for target in sorted(counts):
            while len(made) < target:
                i = len(made)
                ns = f"{prefix}-{i}"
                make_ns(ns, (examples.MGMT_MAC,))
                made.append(ns)
                await host.add(ns, ns, examples.MGMT_MAC, f"fdca::{i + 2:x}/64")
            out.append((target, rss_kb()))
        return out
    finally:
        await host.close()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fips", type=int, nargs="*", default=[1, 100, 1000])
    parser.add_argument("--appliances", type=int, nargs="*", default=[1, 100, 500])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="astara-bench-"))
    work.chmod(0o755)
    try:
        print("floating IPs | first apply ms | first, excl. dnsmasq start ms | one-FIP change ms")
        for n in args.fips:
            r = bench_apply(n, work)
            print(f"{n:12d} | {r['first_ms']:14.1f} | {r['first_excl_dnsmasq_ms']:29.1f} |"
                  f" {r['one_fip_change_ms']:17.1f}")
        if args.appliances:
            base = rss_kb()
            rows = asyncio.run(bench_memory(args.appliances, work))
            print(f"agent RSS before any appliance: {base} KB")
            print("appliances | agent RSS KB | KB per appliance (vs. before)")
            for count, kb in rows:
                print(f"{count:10d} | {kb:12d} | {(kb - base) / count:8.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
