"""Neighbour-table bench: N appliance namespaces reached from the host. Run as root.

    .venv/bin/python bench/neighbours.py [--appliances 1000] [--no-pin]

Plugs N appliance-profile instances with the real netns backend (namespace, veth on
one management bridge, management address on ``eth0``; random name prefixes and a
random management /64), then sends one ICMPv6 echo from the host's management
address to every appliance's and waits for the replies (one raw socket, no process
per appliance). It prints how many answered, the neighbour entries that costs on
both sides (root namespace's bridge; inside the appliances), counted as PERMANENT
vs dynamic, and the kernel's ND "table full" count (``/proc/net/stat/ndisc_cache``,
read only) and its "neighbor table overflow" lines in ``dmesg`` (if readable)
during the run, next to the target (all reachable, 0 overflow). ``--no-pin`` turns
the pins off to show what each appliance costs without them; keep N small then
(the table is the whole host's: past ``gc_thresh3`` every namespace suffers).
Everything created is removed at the end, even on failure. Never changes a sysctl.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astara.compute_service.agent.backend import InstanceSpec  # noqa: E402
from astara.compute_service.agent.bridge_ports import BRIDGE_PORTS  # noqa: E402
from astara.compute_service.agent.netns import NetnsBackend  # noqa: E402
from astara.compute_service.agent.runner import SubprocessRunner  # noqa: E402

ECHO_REQUEST, ECHO_REPLY = 128, 129


class NoPins(NetnsBackend):
    def pins(self, port: dict, profile: str) -> frozenset[tuple[str, str]]:
        return frozenset()


def table_fulls() -> int:
    """The ND table's "table full" events, summed over CPUs (hex columns)."""
    lines = Path("/proc/net/stat/ndisc_cache").read_text().split("\n")
    column = lines[0].split().index("table_fulls")
    return sum(int(line.split()[column], 16) for line in lines[1:] if line.strip())


def overflow_lines() -> int | None:
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.count("neighbor table overflow") if out.returncode == 0 else None


def echo_all(source: str, targets: list[str], timeout: float, batch: int = 128) -> set[str]:
    """The targets that answered an ICMPv6 echo, sent ``batch`` at a time (a burst of
    1,000 loses replies in the host's receive queues, not in the neighbour table)."""
    answered: set[str] = set()
    for at in range(0, len(targets), batch):
        answered |= _echo(source, targets[at:at + batch], timeout)
    return answered


def _echo(source: str, targets: list[str], timeout: float) -> set[str]:
    """The targets that answered one ICMPv6 echo (the kernel fills the checksum)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.bind((source, 0))
        ident = os.getpid() & 0xFFFF
        for seq, target in enumerate(targets):
            packet = bytes([ECHO_REQUEST, 0, 0, 0]) + ident.to_bytes(2, "big") \
                + (seq & 0xFFFF).to_bytes(2, "big") + b"astara"
            sock.sendto(packet, (target, 0))
        answered: set[str] = set()
        wanted = set(targets)
        deadline = time.monotonic() + timeout
        while answered != wanted and (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, addr = sock.recvfrom(1500)
            if data[:1] == bytes([ECHO_REPLY]) and addr[0] in wanted:
                answered.add(addr[0])
        return answered
    finally:
        sock.close()


def neighbours(*argv: str) -> tuple[int, int]:
    """(PERMANENT, dynamic) entries ``ip -j ARGV neigh show`` lists (FAILED included)."""
    out = subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, check=False)
    entries = json.loads(out.stdout or "[]")
    permanent = sum("PERMANENT" in e.get("state", ()) for e in entries)
    return permanent, len(entries) - permanent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appliances", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root")
    if args.appliances > BRIDGE_PORTS:  # each a port on the one management bridge
        sys.exit(f"--appliances {args.appliances}: a Linux bridge takes at most "
                 f"{BRIDGE_PORTS} ports")

    tag = secrets.token_hex(2)
    prefix = f"fdcd:{int(tag, 16):x}:"
    host_ip = f"{prefix}:1"
    mgmt_net = str(uuid.uuid4())
    work = Path(tempfile.mkdtemp(prefix="astara-nbench-"))
    cls = NoPins if args.no_pin else NetnsBackend
    backend = cls(SubprocessRunner(), work / "compute", netns_prefix=f"anbv-{tag}-",
                  bridge_prefix=f"anbq{tag}", appliance_prefix=f"anba-{tag}-",
                  mgmt_host_address=f"{host_ip}/64")
    bridge = backend.bridge(mgmt_net)
    specs = []
    for n in range(1, args.appliances + 1):
        port = {"port_id": str(uuid.uuid4()), "net_id": mgmt_net, "management": True,
                "mac_address": f"fa:16:3e:{n >> 16 & 0xFF:02x}:{n >> 8 & 0xFF:02x}:"
                               f"{n & 0xFF:02x}",
                "fixed_ips": [{"ip_address": f"{prefix}:{n + 1:x}", "prefixlen": 64}]}
        specs.append(InstanceSpec(str(uuid.uuid4()), f"nb-{n}", "appliance", (port,)))
    targets = [s.ports[0]["fixed_ips"][0]["ip_address"] for s in specs]
    fulls0, dmesg0 = table_fulls(), overflow_lines()
    result: dict = {"appliances": args.appliances, "pins": not args.no_pin}
    try:
        start = time.monotonic()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(backend.create, specs))
        result["plug_s"] = round(time.monotonic() - start, 1)
        start = time.monotonic()
        answered = echo_all(host_ip, targets, timeout=2.0)
        # a second round for the ones still resolving (only without pins)
        answered |= echo_all(host_ip, [t for t in targets if t not in answered], 2.0)
        result["echo_s"] = round(time.monotonic() - start, 2)
        result["reachable"] = len(answered)
        result["root_bridge"] = dict(zip(("permanent", "dynamic"),
                                         neighbours("-6", "neigh", "show", "dev", bridge),
                                         strict=True))
        inside = [neighbours("-n", backend.netns(s.id, "appliance"), "-6", "neigh", "show")
                  for s in specs]
        result["inside"] = {"permanent": sum(p for p, _ in inside),
                            "dynamic": sum(d for _, d in inside)}
        result["nd_table_fulls"] = table_fulls() - fulls0
        dmesg1 = overflow_lines()
        result["dmesg_overflow_lines"] = None if dmesg0 is None or dmesg1 is None \
            else dmesg1 - dmesg0
    finally:
        start = time.monotonic()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(backend.delete, specs))
        result["unplug_s"] = round(time.monotonic() - start, 1)
        left = [n for n in os.listdir("/run/netns") if n.startswith("anb")
                and tag in n] if Path("/run/netns").exists() else []
        for name in left:
            subprocess.run(["ip", "netns", "del", name], check=False)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        result["leftovers"] = len(left) + Path(f"/sys/class/net/{bridge}").exists()
        shutil.rmtree(work, ignore_errors=True)
    n = args.appliances
    dyn = result["root_bridge"]["dynamic"] + result["inside"]["dynamic"]
    print(json.dumps(result))
    print(f"appliances reachable from the host: {result['reachable']}/{n} (target {n}/{n})")
    print(f"dynamic ND entries for the management network: {dyn} "
          f"(root bridge {result['root_bridge']['dynamic']}, inside "
          f"{result['inside']['dynamic']}); PERMANENT: "
          f"{result['root_bridge']['permanent'] + result['inside']['permanent']} "
          f"(target: 0 dynamic, not counted against gc_thresh3)")
    print(f"ND table full events during the run: {result['nd_table_fulls']} (target 0); "
          f"dmesg 'neighbor table overflow' lines: {result['dmesg_overflow_lines']} "
          f"(target 0)")
    print(f"plug {result['plug_s']} s, echo {result['echo_s']} s, unplug "
          f"{result['unplug_s']} s, leftovers {result['leftovers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
