"""Appliance agent benchmark: apply latency and host-mode memory. Run as root.

    .venv/bin/python bench/appliance_apply.py [--fips 1 100 1000] [--appliances 1 100 500]
                                              [--repeats 5]

Apply latency: a namespace with the example router's four interfaces (veth pairs
inside it, nothing outside), the real netlink/nftables/dnsmasq ports; the first
full config (with and without the dnsmasq start time) and a one-floating-IP
change (median of 9), for each floating IP count, as `Appliance.apply()` sees
them (the first config: median over `--repeats` fresh namespaces, as one sample
swings with the machine's load); plus what the API adds before that (JSON parse
and validation of the document, median of 9). Memory: one fresh agent process per count (this script
with `--memory-child N`) adds N namespace appliances with `Host.add()` (API +
metadata sockets in each) and reports its own RSS before and after, so counts
do not inherit each other's heap and the bench's own work is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from astara.appliance.converge import Appliance
from astara.appliance.host import Host, real_ports
from astara.wire import examples, parse_config
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


def first_apply(n_fips: int, work: Path, then=None) -> tuple[float, float]:
    """(total, excluding the dnsmasq starts) of the first config, in a fresh namespace;
    `then(appliance)` runs before the namespace goes."""
    ns = f"astb{secrets.token_hex(3)}"
    make_ns(ns, MACS)
    ports = real_ports(work)
    ports.dnsmasq = TimedDnsmasq(ports.dnsmasq)
    appliance = Appliance("bench", ns, work, 5000, ports)
    try:
        t = time.perf_counter()
        result = appliance.apply(config(n_fips))
        total = time.perf_counter() - t
        assert result.error is None, result.error
        if then is not None:
            then(appliance)
        return total, total - ports.dnsmasq.start_time
    finally:
        appliance.teardown()
        subprocess.run(["ip", "netns", "del", ns], check=False)


def bench_apply(n_fips: int, work: Path, repeats: int) -> dict[str, float]:
    changes: list[float] = []

    def one_fip_changes(appliance: Appliance) -> None:
        for i in range(9):
            doc = config(n_fips, extra=1 if i % 2 == 0 else 0)
            t = time.perf_counter()
            result = appliance.apply(doc)
            changes.append(time.perf_counter() - t)
            assert result.error is None and result.nft == "delta", result

    firsts = [first_apply(n_fips, work, one_fip_changes if i == 0 else None)
              for i in range(repeats)]
    return {"first_ms": statistics.median(f[0] for f in firsts) * 1e3,
            "first_excl_dnsmasq_ms": statistics.median(f[1] for f in firsts) * 1e3,
            "one_fip_change_ms": statistics.median(changes) * 1e3,
            "parse_ms": parse_ms(n_fips + 1)}


def parse_ms(n_fips: int) -> float:
    body = json.dumps(examples.router_document(n_fips)).encode()
    times = []
    for _ in range(9):
        t = time.perf_counter()
        parse_config(json.loads(body))
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def memory_child(count: int, work: Path) -> dict[str, int]:
    """In a fresh process: RSS before and after serving `count` namespace appliances."""
    host = Host(work, lambda name: "bench-secret", api_port=5000)
    prefix = f"astm{secrets.token_hex(2)}"
    made: list[str] = []
    try:
        before = rss_kb()
        for i in range(count):
            ns = f"{prefix}-{i}"
            make_ns(ns, (examples.MGMT_MAC,))
            made.append(ns)
            await host.add(ns, ns, examples.MGMT_MAC, f"fdca::{i + 2:x}/64")
        return {"count": count, "before_kb": before, "after_kb": rss_kb()}
    finally:
        await host.close()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False)


def bench_memory(count: int, work: Path) -> dict[str, int]:
    res = subprocess.run([sys.executable, __file__, "--memory-child", str(count),
                          "--work", str(work)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fips", type=int, nargs="*", default=[1, 100, 1000])
    parser.add_argument("--appliances", type=int, nargs="*", default=[1, 100, 500])
    parser.add_argument("--repeats", type=int, default=5,
                        help="first applies (each in a fresh namespace) per count")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        print(json.dumps(asyncio.run(memory_child(args.memory_child, args.work))))
        return
    work = Path(tempfile.mkdtemp(prefix="astara-bench-"))
    work.chmod(0o755)
    try:
        print("floating IPs | first apply ms | first, excl. dnsmasq start ms |"
              " one-FIP change ms | API parse of that document ms")
        for n in args.fips:
            r = bench_apply(n, work, args.repeats)
            print(f"{n:12d} | {r['first_ms']:14.1f} | {r['first_excl_dnsmasq_ms']:29.1f} |"
                  f" {r['one_fip_change_ms']:17.1f} | {r['parse_ms']:29.1f}")
        if args.appliances:
            print("appliances | agent RSS before KB | agent RSS after KB | KB per appliance")
            for count in args.appliances:
                r = bench_memory(count, work)
                per = (r["after_kb"] - r["before_kb"]) / count
                print(f"{count:10d} | {r['before_kb']:19d} | {r['after_kb']:18d} | {per:16.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
