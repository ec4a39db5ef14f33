"""What one forwarding write costs as a host holds more rtnetlink listeners. Run as root,
under the functional lock (it makes two namespaces):

    flock /tmp/astara-functional.lock .venv/bin/python bench/netlink_listeners.py \
        [--listeners 0 1000 3000] [--writes 15]

Why: a first push's forwarding writes (`appliance.converge`) and netlink batch grow
with the appliances a host serves. Every change the kernel makes in a namespace
(an address, a route, a device's forwarding) is announced by `netlink_broadcast`,
which walks *every* rtnetlink socket joined to a multicast group on the host, in
whatever namespace, before skipping those of other namespaces. A host with 1,000
routers holds some 3,000 of them: two dnsmasq each and the host agent's wake socket
(`appliance.wake`) per appliance.

One namespace is made the shape of a router appliance's (loopback and four veth pairs
with an IPv4 and an IPv6 address each, nothing outside it); a second one holds
``N`` rtnetlink sockets joined to the groups dnsmasq joins (they receive nothing
from the first). For each ``N`` the p50 of ``net.ipv6.conf.all.forwarding`` and
``net.ipv4.conf.all.forwarding`` 0 -> 1 in the first namespace is printed.
"""

from __future__ import annotations

import argparse
import resource
import secrets
import socket
import subprocess
import time

from astara.appliance.apply.netns import entered

# dnsmasq's groups: RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR |
# RTMGRP_IPV6_ROUTE.
GROUPS = 0x10 | 0x40 | 0x100 | 0x400
KEYS = ("ipv6/conf/all/forwarding", "ipv4/conf/all/forwarding")


def router_shape(netns: str) -> None:
    lines = ["link set lo up"]
    for i in range(4):
        lines += [f"link add a{i} type veth peer name b{i}", f"link set a{i} up",
                  f"link set b{i} up", f"address add 10.99.{i}.1/24 dev a{i}",
                  f"address add fd00:99:{i}::1/64 dev a{i} nodad"]
    subprocess.run(["ip", "-n", netns, "-batch", "-"], input="\n".join(lines) + "\n",
                   check=True, capture_output=True, text=True)


def write_p50(netns: str, key: str, writes: int) -> float:
    """p50 ms of `key` 0 -> 1 in `netns` (each write is preceded by a 1 -> 0)."""
    took = []
    path = f"/proc/sys/net/{key}"
    with entered(netns):
        for _ in range(writes):
            with open(path, "w") as f:
                f.write("0")
            start = time.perf_counter()
            with open(path, "w") as f:
                f.write("1")
            took.append((time.perf_counter() - start) * 1000)
    return sorted(took)[len(took) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, nargs="+", default=[0, 1000, 3000])
    parser.add_argument("--writes", type=int, default=15)
    args = parser.parse_args()
    wanted = max(args.listeners)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted + 64), hard))
    tag = secrets.token_hex(3)
    router, others = f"astara-bench-nlr-{tag}", f"astara-bench-nll-{tag}"
    made: list[str] = []
    socks: list[socket.socket] = []
    try:
        for name in (router, others):
            subprocess.run(["ip", "netns", "add", name], check=True)
            made.append(name)
        router_shape(router)
        for n in sorted(args.listeners):
            with entered(others):
                while len(socks) < n:
                    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
                    socks.append(sock)
                    sock.bind((0, GROUPS))
            took = ", ".join(f"{key.split('/')[0]} {write_p50(router, key, args.writes):.2f} ms"
                             for key in KEYS)
            print(f"{n} rtnetlink listeners in another namespace: forwarding 0 -> 1 p50 {took}",
                  flush=True)
    finally:
        for sock in socks:
            sock.close()
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False)


if __name__ == "__main__":
    main()
