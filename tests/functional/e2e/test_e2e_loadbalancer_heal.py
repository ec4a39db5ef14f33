"""A load balancer heals behind the orchestrator's back, end to end, as root, on a real
all-in-one stack (health check every 10 s), through openstacksdk:

one instance answering HTTP behind a load balancer, a client instance on the same
network. haproxy killed (``kill -9``, master and workers): the same appliance serves
the VIP again (the health check reports haproxy down and pushes the same document,
which starts it). The appliance's namespace deleted (``ip netns del``): the
orchestrator rebuilds the appliance, which serves the same VIP address; the load
balancer is ACTIVE/ONLINE again. What the test makes is deleted even on failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.functional.e2e.e2e_helpers import answers, netns
from tests.functional.e2e.test_e2e_loadbalancer import (
    lb_connection,
    pytestmark,  # noqa: F401  (root, the binaries: as its sibling)
)
from tests.functional.e2e.test_e2e_loadbalancer_stats_failover import lb_appliances
from tests.support import wait_for

from astara.burnin.scenario import Options, connection

PROJECT = "e2e-lbheal"
# A health check every 10 s: a heal is seen within one period plus a push (or a boot).
HEAL_BY_PUSH = 30
HEAL_BY_REBUILD = 120


def haproxy_pids(ns: str) -> set[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    pids = set()
    for pid in out.split():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "haproxy":
                    pids.add(int(pid))
        except OSError:
            continue
    return pids


def in_netns(inode: int) -> set[int]:
    """The processes in the network namespace `inode` (named or not any more)."""
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == inode:
                pids.add(int(pid))
        except OSError:
            continue
    return pids


def healthy(lbs, lb_id: str) -> bool:
    lb = lbs.get_load_balancer(lb_id)
    return (lb.provisioning_status, lb.operating_status) == ("ACTIVE", "ONLINE")


def test_killed_haproxy_and_deleted_namespace_heal_on_the_same_vip(aio):
    ports, _state = aio
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    user = connection(o, PROJECT, False)
    lbs = lb_connection(f"http://127.0.0.1:{ports['lb']}/", PROJECT).load_balancer
    made: dict = {"vms": [], "lb": None, "router": None, "sub": None}
    try:
        net = user.network.create_network(name="e2e-lbh-net")
        sub = made["sub"] = user.network.create_subnet(network_id=net.id, ip_version=4,
                                                       cidr="10.79.0.0/24")
        router = made["router"] = user.network.create_router(name="e2e-lbh-router")
        user.network.add_interface_to_router(router, subnet_id=sub.id)
        vms = made["vms"] = [user.compute.create_server(
            name=f"e2e-lbh-{n}", image_id="astara-tenant", flavor_id="1",
            networks=[{"uuid": net.id}]) for n in ("web1", "client")]
        for vm in vms:
            wait_for(lambda vm=vm: user.compute.get_server(vm.id).status == "ACTIVE", 120,
                     f"{vm.name} ACTIVE", 0.2)
        web = next(p.fixed_ips[0]["ip_address"]
                   for p in user.network.ports(device_id=vms[0].id))
        client = f"astara-vm-{vms[1].id}"
        wait_for(lambda: answers(client, web), 120, "web1 from the client", 0.2)

        lb = made["lb"] = lbs.create_load_balancer(name="e2e-lbh", vip_subnet_id=sub.id)
        listener = lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                       protocol_port=80)
        pool = lbs.create_pool(listener_id=listener.id, protocol="HTTP",
                               lb_algorithm="ROUND_ROBIN")
        lbs.create_member(pool, address=web, protocol_port=80)
        wait_for(lambda: healthy(lbs, lb.id), 120, "the load balancer ACTIVE/ONLINE", 0.2)
        wait_for(lambda: answers(client, lb.vip_address) == "e2e-lbh-web1", 60,
                 "web1 through the VIP", 0.1)
        (appliance,) = lb_appliances()

        # 1. haproxy killed: the same appliance (namespace) serves again, a new haproxy.
        killed = haproxy_pids(appliance)
        assert killed
        t0 = time.monotonic()
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not haproxy_pids(appliance) & killed, 10, "haproxy gone", 0.05)
        wait_for(lambda: answers(client, lb.vip_address) == "e2e-lbh-web1", HEAL_BY_PUSH,
                 "the VIP answering again after haproxy was killed", 0.1)
        print(f"haproxy killed -> VIP answered again in {time.monotonic() - t0:.2f} s")
        assert lb_appliances() == {appliance}  # healed in place: no rebuild
        assert haproxy_pids(appliance) and not haproxy_pids(appliance) & killed
        assert lbs.get_load_balancer(lb.id).vip_address == lb.vip_address
        wait_for(lambda: healthy(lbs, lb.id), 30, "ACTIVE/ONLINE after haproxy's heal", 0.2)

        # 2. The namespace deleted: a new appliance on the same VIP address.
        inode = os.stat(f"/run/netns/{appliance}").st_ino
        assert in_netns(inode)  # its haproxy
        t0 = time.monotonic()
        subprocess.run(["ip", "netns", "del", appliance], check=True)
        # The agent drops an appliance whose namespace is gone and stops its haproxy:
        # nothing is left in the unnamed namespace to answer on the VIP's old link.
        wait_for(lambda: not in_netns(inode), 30, "the old namespace's processes gone", 0.2)
        wait_for(lambda: lb_appliances() - {appliance}, HEAL_BY_REBUILD,
                 "a new appliance with haproxy", 0.2)
        wait_for(lambda: answers(client, lb.vip_address) == "e2e-lbh-web1", 60,
                 "the VIP answering again after the namespace was deleted", 0.1)
        print(f"namespace deleted -> VIP answered again in {time.monotonic() - t0:.2f} s")
        assert lbs.get_load_balancer(lb.id).vip_address == lb.vip_address
        wait_for(lambda: healthy(lbs, lb.id), 60, "ACTIVE/ONLINE after the rebuild", 0.2)
        assert len(lb_appliances()) == 1
    finally:
        # Best effort, each step on its own: the stack's own teardown judges leaks.
        steps = []
        if made["lb"] is not None:
            steps.append(lambda: lbs.delete_load_balancer(made["lb"].id, cascade=True))
        steps += [lambda vm=vm: user.compute.delete_server(vm.id) for vm in made["vms"]]
        if made["router"] is not None and made["sub"] is not None:
            steps += [lambda: user.network.remove_interface_from_router(
                made["router"], subnet_id=made["sub"].id),
                lambda: user.network.delete_router(made["router"])]
        for step in steps:
            try:
                step()
            except Exception as exc:  # the next step may still succeed
                print(f"cleanup: {exc}")
        wait_for(lambda: not [n for n in netns() if n.startswith(("astara-appliance-",
                                                                     "astara-vm-"))],
                 120, "every appliance and instance namespace gone", 0.2)
