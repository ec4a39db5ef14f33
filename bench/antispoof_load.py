"""One port's anti-spoofing chain loaded with N chains already on the host (root).

The compute agent loads a filtered port's chain (``agent.antispoof``) in one nftables
transaction per plug, and the cost grows with the chains already on the host (every
appliance's management port has one). In a scratch
namespace of its own (N bridges standing for taps, removed after), this loads N
chains, then times loading one more, alternately through the ``nft`` binary (the
agent's fallback) and through libnftables in-process (``common.libnft``, what the
agent runs); prints the median and the range of each. Asserts nothing.
Usage: sudo .venv/bin/python bench/antispoof_load.py [--chains 1000] [--samples 9]
Hold /tmp/astara-functional.lock (flock) while it runs when others test on the host.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astara.common.libnft import Context  # noqa: E402
from astara.common.netns import entered  # noqa: E402
from astara.compute_service.agent import antispoof  # noqa: E402


def port(i: int) -> dict:
    return {"mac_address": "fa:16:3e:" + ":".join(f"{i >> s & 255:02x}" for s in (16, 8, 0)),
            "fixed_ips": [{"ip_address": f"fdca::{i:x}"}], "port_security_enabled": True}


def script(i: int) -> str:
    return antispoof.script(antispoof.chain_script(f"tapx{i}", port(i)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=9, help="loads timed per way")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    ns = f"astara-bench-as-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        devices = a.chains + 2 * a.samples
        subprocess.run(["ip", "-n", ns, "-batch", "-"], check=True, text=True,
                       input="".join(f"link add tapx{i} type bridge\n"
                                     for i in range(1, devices + 1)))
        with entered(ns):  # this thread's nft (binary and library) works in the scratch
            if a.chains:
                subprocess.run(["nft", "-f", "-"], check=True, text=True,
                               input="".join(script(i) for i in range(1, a.chains + 1)))
            ctx = Context()
            took: dict[str, list[float]] = {"nft binary": [], "libnftables": []}
            for k in range(2 * a.samples):
                text = script(a.chains + 1 + k)
                t0 = time.perf_counter()
                if k % 2 == 0:
                    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=text)
                    took["nft binary"].append(time.perf_counter() - t0)
                else:
                    rc, _out, err = ctx.run(text)
                    if rc:
                        raise SystemExit(f"libnftables refused the chain: {err}")
                    took["libnftables"].append(time.perf_counter() - t0)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    load = Path("/proc/loadavg").read_text().split()[:3]
    for way, values in took.items():
        print(f"one port's chain with {a.chains} chains on the host, {way}: "
              f"p50 {statistics.median(values) * 1000:.1f} ms "
              f"({min(values) * 1000:.1f}-{max(values) * 1000:.1f} ms, {len(values)} loads; "
              f"load average {' '.join(load)})")


if __name__ == "__main__":
    main()
