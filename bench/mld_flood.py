"""What one multicast frame flooded to N appliance ports costs the host (root).

Each IPv6 interface of a booting appliance sends seven MLD listener reports and one
DAD neighbour solicitation in its first seconds (captured on the taps of a stack's
appliances), and a Linux bridge with no multicast querier floods each to every port,
into every appliance's namespace. The compute agent now drops the reports of an
appliance's management port at its tap, and plugs an appliance's port that has no
IPv6 fixed IP with IPv6 off (no frame at all). This builds that shape in a scratch
network namespace standing for the host: one bridge, N namespaces (IPv6 forwarding
on) each on a veth, and a sender's veth carrying the management port's
anti-spoofing chain (``antispoof.chain_script``, the backend's own text, loaded in
the scratch namespace's own table). It sends ``--frames`` MLDv2 reports from the
sender's link-local address, ``--rate`` a second, and prints the host's CPU per
frame (all cores, ``probes.host_cpu``, less an idle window of the same length just
before) and the frames one receiving port was given, first with the chain an
appliance's port had before (reports let out), then with the management port's
(``quiet``: reports dropped at the tap).

Usage: sudo .venv/bin/python bench/mld_flood.py [--ports 1000] [--frames 100] [--rate 20]
Hold /tmp/astara-functional.lock (flock) while it runs. Everything it made is removed
at the end, even on failure.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import probes  # noqa: E402

from astara.common.netns import entered  # noqa: E402
from astara.compute_service.agent import antispoof  # noqa: E402

MAC = "fa:16:3e:4d:00:01"


def ip_batch(lines: list[str], netns: str | None = None, force: bool = False) -> None:
    cmd = ["ip", *(["-n", netns] if netns else []), *(["-force"] if force else []),
           "-batch", "-"]
    subprocess.run(cmd, input="".join(f"{line}\n" for line in lines), text=True,
                   check=not force, stderr=subprocess.DEVNULL if force else None)


def host_cpu() -> tuple[float, float]:
    """(busy, softirq) CPU seconds of all cores so far (``probes.host_cpu``)."""
    return probes.host_cpu(), psutil.cpu_times().softirq


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data + b"\0" * (len(data) % 2)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def report(mac: str) -> bytes:
    """An MLDv2 report as a host sends one on joining a group: to ff02::16, hop limit
    1, behind a hop-by-hop router alert, from its EUI-64 link-local address."""
    src, dst = antispoof.link_local(mac).packed, ipaddress.IPv6Address("ff02::16").packed
    group = ipaddress.IPv6Address("ff02::1:ff4d:1").packed
    icmp = struct.pack("!BBHHHBBH", 143, 0, 0, 0, 1, 4, 0, 0) + group
    pseudo = src + dst + struct.pack("!IxxxB", len(icmp), 58)
    icmp = icmp[:2] + struct.pack("!H", _checksum(pseudo + icmp)) + icmp[4:]
    payload = bytes([58, 0, 5, 2, 0, 0, 1, 0]) + icmp
    ip6 = struct.pack("!IHBB", 0x60000000, len(payload), 0, 1) + src + dst + payload
    return bytes.fromhex("333300000016" + mac.replace(":", "")) + b"\x86\xdd" + ip6


def settle(host: str, receiver: str, timeout: float = 120.0) -> float:
    """Wait until the namespaces are quiet (their own reports at link up, repeated,
    flood each other): two seconds in which ``receiver`` was given nothing; the
    seconds it took."""
    began, last, since = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - began < timeout:
        if (now := tx_packets(host, receiver)) != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 2.0:
            break
        time.sleep(0.1)
    return time.monotonic() - began


def tx_packets(host: str, dev: str) -> int:
    out = subprocess.run(["ip", "-n", host, "-s", "-j", "link", "show", dev],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


def burst(sock: socket.socket, frame: bytes, count: int, rate: float, host: str,
          receiver: str) -> dict:
    """Host CPU per frame sent (ms, over an idle window just before) and frames the
    receiving port was given."""
    window = count / rate
    b0, s0 = host_cpu()
    time.sleep(window)
    b1, s1 = host_cpu()
    idle_busy, idle_soft = b1 - b0, s1 - s0
    given = tx_packets(host, receiver)
    b0, s0 = host_cpu()
    for _ in range(count):
        sock.send(frame)
        time.sleep(1 / rate)
    b1, s1 = host_cpu()
    given = tx_packets(host, receiver) - given
    return {"cpu_ms": max(0, b1 - b0 - idle_busy) * 1000 / count,
            "softirq_ms": max(0, s1 - s0 - idle_soft) * 1000 / count,
            "given": given, "idle_ms": idle_busy * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--rate", type=float, default=20.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/mld_flood.py: run as root (it makes namespaces)")
    tag = secrets.token_hex(2)
    host, sender = f"astara-mldf-{tag}-host", f"astara-mldf-{tag}-s"
    names = [f"astara-mldf-{tag}-{i}" for i in range(args.ports)]
    tap = f"tapmldf{tag}"
    port = {"port_id": "mldf", "mac_address": MAC, "port_security_enabled": True,
            "management": True,
            "fixed_ips": [{"subnet_id": "m", "ip_address": "fdca:3ba5:a17a:acda::4d"}]}
    try:
        ip_batch([f"netns add {n}" for n in (host, sender, *names)])
        ip_batch(["link add br0 type bridge", "link set br0 up",
                  f"link add {tap} type veth peer name eth0 address {MAC} netns {sender}",
                  f"link set {tap} master br0 up",
                  *(line for i, n in enumerate(names) for line in (
                      f"link add v{i} type veth peer name eth0 netns {n}",
                      f"link set v{i} master br0 up"))], host)
        for n in (sender, *names):
            with entered(n):  # routers, as appliances are: no router solicitations
                Path("/proc/sys/net/ipv6/conf/all/forwarding").write_text("1\n")
            ip_batch(["link set lo up", "link set eth0 up"], n)
        took = settle(host, "v0")
        print(f"{args.ports} namespaces on one bridge; quiet after {took:.1f} s", flush=True)
        with entered(sender):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        sock.bind(("eth0", 0))
        frame = report(MAC)
        results = {}
        for label, quiet in (("reports let out (the chain before)", False),
                             ("the management port's chain (reports dropped)", True)):
            text = antispoof.script(antispoof.chain_script(tap, port, quiet))
            subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], input=text,
                           text=True, check=True)
            results[label] = r = burst(sock, frame, args.frames, args.rate, host, "v0")
            print(f"  {label:48s} {r['cpu_ms']:.2f} ms of host CPU per report "
                  f"(softirq {r['softirq_ms']:.2f}); one receiving port given "
                  f"{r['given']} of {args.frames}; idle window {r['idle_ms']:.0f} ms",
                  flush=True)
        sock.close()
        before, after = results.values()
        print(f"one IPv6 interface's 7 reports at boot, on a network of {args.ports} ports: "
              f"{7 * before['cpu_ms']:.0f} ms of host CPU let out, "
              f"{7 * after['cpu_ms']:.0f} ms dropped at the tap (router ready target: "
              f"p50 <= 300 ms, p99 <= 1 s, with 1,000 routers)")
    finally:
        ip_batch([f"netns del {n}" for n in (host, sender, *names)], force=True)


if __name__ == "__main__":
    main()
