"""Load-balancer benchmark on a real all-in-one stack (root, under the functional lock).

One tenant network behind a router (its DHCP), three instances answering HTTP with
their names and a client instance; then, through openstacksdk as a tenant:

  * load balancer create -> the VIP answers from both members: p50/p99 over
    ``--samples`` load balancers (each made with a listener, a round-robin pool of two
    members and an HTTP monitor in the calls a client would make, timed from the
    first call; deleted with ``cascade`` after), target p50 <= 1 s;
  * member added -> it answers through the VIP, member removed -> it no longer does:
    p50/p99 over ``--samples`` of each (target p99 <= 200 ms), probing with one HTTP
    request at a time from the client;
  * a member's instance stopped -> taken out (ten answers in a row from the others),
    next to its monitor's delay x max_retries_down + 1 s;
  * appliance memory per load balancer with ``--count`` load balancers up: the
    processes in their appliance namespaces (PSS) and the appliance agent's growth.
Prints each figure next to issue 12's target; asserts nothing.
Usage: sudo .venv/bin/python bench/loadbalancer.py [--samples 10] [--count 20]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import openstack
from keystoneauth1 import noauth, session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.orchestrator_e2e import pct  # noqa: E402
from bench.stack import Stack, netns_pids  # noqa: E402
from tests.support import wait_for  # noqa: E402

from astara.appliance.observe.haproxy import parse  # noqa: E402
from astara.appliance.render.haproxy import paths as haproxy_paths  # noqa: E402
from astara.burnin.scenario import Options, connection  # noqa: E402

PROJECT = "bench-lb"
DELAY, RETRIES_DOWN = 1, 1


def lb_api(url: str):
    headers = {"X-Project-Id": PROJECT, "X-User-Id": "bench-lb", "X-Roles": "member,reader"}
    sess = session.Session(auth=noauth.NoAuth(), additional_headers=headers)
    return openstack.connection.Connection(session=sess, region_name="RegionOne",
                                           load_balancer_endpoint_override=url).load_balancer


def get(client_ns: str, vip: str) -> str | None:
    r = subprocess.run(["ip", "netns", "exec", client_ns, "curl", "-s", "--max-time", "1",
                        f"http://{vip}/"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def until(check, timeout: float) -> float:
    """Seconds until ``check()`` first holds (probing back to back)."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("gave up waiting")
    return time.monotonic() - t0


class World:
    def __init__(self, stack: Stack):
        o = Options(network_url=stack.network_url, compute_url=stack.compute_url)
        self.user = connection(o, PROJECT, False)
        self.lbs = lb_api(f"http://127.0.0.1:{stack.ports['lb']}/")
        net = self.user.network.create_network(name="bench-lb-net")
        self.subnet = self.user.network.create_subnet(network_id=net.id, ip_version=4,
                                                      cidr="10.78.0.0/22")
        router = self.user.network.create_router(name="bench-lb-router")
        self.user.network.add_interface_to_router(router, subnet_id=self.subnet.id)
        self.vms = {n: self.user.compute.create_server(
            name=n, image_id="astara-tenant", flavor_id="1", networks=[{"uuid": net.id}])
            for n in ("web1", "web2", "web3", "client")}
        for vm in self.vms.values():
            wait_for(lambda vm=vm: self.user.compute.get_server(vm.id).status == "ACTIVE",
                     120, f"{vm.name} ACTIVE", 0.2)
        self.ip = {n: next(p.fixed_ips[0]["ip_address"]
                           for p in self.user.network.ports(device_id=vm.id))
                   for n, vm in self.vms.items()}
        self.client = f"astara-vm-{self.vms['client'].id}"
        wait_for(lambda: get(self.client, self.ip["web1"]), 120, "web1 from the client", 0.2)

    def load_balancer(self, members=("web1", "web2"), vip_address: str | None = None):
        lb = self.lbs.create_load_balancer(vip_subnet_id=self.subnet.id,
                                           **({"vip_address": vip_address} if vip_address
                                              else {}))
        listener = self.lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                            protocol_port=80)
        pool = self.lbs.create_pool(listener_id=listener.id, protocol="HTTP",
                                    lb_algorithm="ROUND_ROBIN")
        for name in members:
            self.lbs.create_member(pool, address=self.ip[name], protocol_port=80)
        self.lbs.create_health_monitor(pool_id=pool.id, type="HTTP", delay=DELAY, timeout=1,
                                       max_retries=1, max_retries_down=RETRIES_DOWN)
        return lb, pool

    def seen(self, vip: str, names: set[str]) -> bool:
        got: set[str] = set()
        for _ in range(2 * len(names)):
            got.add(get(self.client, vip) or "")
        return names <= got

    def gone(self, vip: str, name: str, t0: float, run: int = 10,
             timeout: float = 60) -> float:
        """Seconds from ``t0`` to the first of ``run`` answers in a row, none from
        ``name`` (the request's start: the time it was out)."""
        since, count = None, 0
        while count < run:
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"{name} still answers after {timeout} s")
            start = time.monotonic()
            answer = get(self.client, vip)
            if answer is not None and answer != name:
                since, count = since or start, count + 1
            else:
                since, count = None, 0
        assert since is not None
        return since - t0

    def appears(self, vip: str, name: str, t0: float, timeout: float = 30) -> float:
        """Seconds from ``t0`` to the start of the first request ``name`` answered."""
        while time.monotonic() - t0 < timeout:
            start = time.monotonic()
            if get(self.client, vip) == name:
                return start - t0
        raise AssertionError(f"{name} never answered")


def member_status(stack: Stack, address: str) -> str | None:
    """haproxy's own view of the member at ``address``:80 (its `show stat` status, e.g.
    "UP", "DOWN", "UP 1/2"), read from every appliance's stats socket."""
    for d in (stack.state / "appliance").glob("astara-appliance-*"):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(str(haproxy_paths(d)["sock"]))
                s.sendall(b"show stat\n")
                text = b"".join(iter(lambda: s.recv(65536), b"")).decode(errors="replace")
        except OSError:
            continue
        for row in parse(text).values():
            if row.get("addr") == f"{address}:80":
                return row.get("status")
    return None


def failures(stack: Stack, world: World, lb, samples: int) -> None:
    """A member's instance stopped, ``samples`` times: when haproxy marks it DOWN (its
    stats socket, polled every 5 ms: the member taken out) and when the traffic shows
    it (ten answers in a row from the others), from the stop call and from the moment
    its links went down (SHUTOFF shown by the compute API, polled beside)."""
    address = world.ip["web2"]
    down, down_off, traffic = [], [], []
    for _ in range(samples):
        until(lambda: member_status(stack, address) == "UP", 60)
        t0 = time.monotonic()
        world.user.compute.stop_server(world.vms["web2"])
        shutoff: list[float] = []
        watcher = threading.Thread(target=lambda shutoff=shutoff: shutoff.append(wait_for(
            lambda: world.user.compute.get_server(world.vms["web2"]).status == "SHUTOFF"
            and time.monotonic(), 60, "web2 SHUTOFF", 0.005)), daemon=True)
        watcher.start()
        marked = wait_for(lambda: (member_status(stack, address) or "").startswith("DOWN")
                          and time.monotonic(), 60, "web2 DOWN in haproxy", 0.005)
        traffic.append(world.gone(lb.vip_address, "web2", t0))
        watcher.join(60)
        down.append(marked - t0)
        if shutoff:
            down_off.append(marked - shutoff[0])
        world.user.compute.start_server(world.vms["web2"])
        until(lambda: world.seen(lb.vip_address, {"web1", "web2"}), 60)
    target = DELAY * RETRIES_DOWN + 1
    for what, xs in (("from the stop call", down),
                     ("from SHUTOFF shown (links already down)", down_off),
                     ("traffic shows it (10 answers in a row from others), from the stop call",
                      traffic)):
        if xs:
            print(f"member's instance stopped -> taken out (haproxy DOWN), {what}: p50 "
                  f"{statistics.median(xs):.2f} s, max {max(xs):.2f} s over {len(xs)} "
                  f"(target: delay x max_retries_down + 1 s = {target} s)")


def memory(stack: Stack, count: int, world: World) -> None:
    agent = stack.service("appliance-agent")
    before = agent.memory_info().rss
    ids = [world.load_balancer()[0].id for _ in range(count)]
    wait_for(lambda: all(world.lbs.get_load_balancer(i).provisioning_status == "ACTIVE"
                         for i in ids), 60 + 5 * count, f"{count} load balancers ACTIVE", 0.5)
    ns = [n for n in os.listdir("/run/netns") if n.startswith("astara-appliance-")]
    pids = [p for pids in netns_pids(ns).values() for p in pids]
    pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    grown = agent.memory_info().rss - before
    print(f"memory per load balancer at {count}: {pss / count / 2**20:.2f} MiB in its "
          f"appliance namespace (PSS of haproxy; {len(ns)} appliance namespaces incl. the "
          f"router's) + {max(0, grown) / count / 2**20:.2f} MiB of appliance-agent RSS")
    for i in ids:
        world.lbs.delete_load_balancer(i, cascade=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--failures", type=int, default=10)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    stack = Stack("lb", 4 + a.count)
    try:
        stack.start()
        world = World(stack)
        ready, kept = [], []
        for _ in range(a.samples):  # kept until the end: each VIP a new address
            t0 = time.monotonic()
            lb, _pool = world.load_balancer()
            until(lambda lb=lb: world.seen(lb.vip_address, {"web1", "web2"}), 120)
            ready.append(time.monotonic() - t0)
            kept.append(lb)
        print(f"load balancer create -> VIP answers from both members: p50 "
              f"{statistics.median(ready):.2f} s, p99 {pct(ready, 0.99):.2f} s over "
              f"{len(ready)} (target p50 <= 1 s)")
        # The same address right after a delete: the client's neighbour entry still
        # names the old appliance's MAC; the new appliance announces the address. The
        # address is free again once the old appliance is gone (its VIP port released).
        old = kept.pop()
        world.lbs.delete_load_balancer(old.id, cascade=True)
        t0 = time.monotonic()
        wait_for(lambda: world.user.network.find_port(old.vip_port_id) is None, 120,
                 "the old VIP port released", 0.05)
        released = time.monotonic() - t0
        t0 = time.monotonic()
        lb, _pool = world.load_balancer(vip_address=old.vip_address)
        until(lambda: world.seen(lb.vip_address, {"web1", "web2"}), 120)
        print(f"  the same with the VIP address of a load balancer deleted just before "
              f"(reused): {time.monotonic() - t0:.2f} s (its VIP port, with the address, "
              f"was released {released:.2f} s after the delete call, once its appliance "
              "was gone)")
        kept.append(lb)
        for done in kept:
            world.lbs.delete_load_balancer(done.id, cascade=True)
        lb, pool = world.load_balancer()
        until(lambda: world.seen(lb.vip_address, {"web1", "web2"}), 60)
        added, removed = [], []
        for _ in range(a.samples):
            t0 = time.monotonic()
            m = world.lbs.create_member(pool, address=world.ip["web3"], protocol_port=80)
            added.append(world.appears(lb.vip_address, "web3", t0))
            t0 = time.monotonic()
            world.lbs.delete_member(m, pool)
            removed.append(world.gone(lb.vip_address, "web3", t0, run=6))
        for what, xs in (("added -> answers", added), ("removed -> no longer answers",
                                                         removed)):
            print(f"member {what}: p50 {statistics.median(xs) * 1000:.0f} ms, p99 "
                  f"{pct(xs, 0.99) * 1000:.0f} ms over {len(xs)} (target p99 <= 200 ms; "
                  "from the API call to the start of the first request that showed it)")
        failures(stack, world, lb, a.failures)
        world.lbs.delete_load_balancer(lb.id, cascade=True)
        memory(stack, a.count, world)
    finally:
        # haproxy's stats sockets live outside the state directory
        for d in (stack.state / "appliance").glob("astara-appliance-*"):
            haproxy_paths(d)["sock"].unlink(missing_ok=True)
        stack.close()


if __name__ == "__main__":
    main()
