"""A floating IP MOVED between ports (one ``PUT`` of its ``port_id``, no disassociation
in between), on either network API: against a REAL neutron-server
(tests/functional/e2e/test_e2e_real_neutron.py) and against our own
(tests/functional/e2e/test_e2e_fip_move.py).

Two routers share the external network: router 1 serves instances A and B, router 2
instance C. The floating IP goes to A, then straight to B (same router: upstream reaches
B at it, A leaves by SNAT again), then straight to C (router 2: Neutron's
``floatingip.update.end`` names router 2 only, yet router 1's appliance drops the DNAT
and B leaves by SNAT again). Each move's time to traffic at the new port is printed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import openstack

from astara.burnin.host import Upstream, in_ns
from astara.compute_service.agent.netns import bridge_name
from tests.functional.e2e.e2e_helpers import appliance_netns, curl, pings
from tests.real_neutron_stack import rpc_view
from tests.support import wait_for


def view(state: Path, rpc: str, router_id: str) -> dict:
    """The router's view once the RPC answers with it (a restart, a slow answer)."""
    return wait_for(lambda: rpc_view(state, rpc, router_id), 30,
                    f"the orchestrator's view of router {router_id}")


def appliance_ruleset(instance_id: str) -> str:
    """The appliance's nftables ruleset (its floating IP maps and ARP set)."""
    return in_ns(f"astara-appliance-{instance_id}", "nft", "list", "ruleset").stdout


def holds(ruleset: str, address: str) -> bool:
    """``address`` itself in ``ruleset``, not as the start of a longer address
    (198.51.100.12 is in 198.51.100.120)."""
    return re.search(rf"(?<![\d.]){re.escape(address)}(?![\d])", ruleset) is not None


def intake_lines(state: Path, router_id: str) -> int:
    log = (state / "logs" / "orchestrator.log").read_text(errors="replace")
    return log.count(f"intake: floatingip.update.end -> router {router_id}")


def move_floating_ip(admin, user, state: Path, rpc: str, name: str, timed: Callable) -> None:
    """The scenario on either network API (``admin``/``user``: openstacksdk
    connections to it); creates and removes everything but the stack."""
    ext = admin.network.create_network(name=f"{name}-public", is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, cidr="198.51.100.0/24", ip_version=4,
                                is_dhcp_enabled=False, gateway_ip="198.51.100.1",
                                allocation_pools=[{"start": "198.51.100.10",
                                                   "end": "198.51.100.200"}])
    upstream = Upstream(name, bridge_name("brq", ext.id), "198.51.100.0/24", "198.51.100.1")
    upstream.open()
    vms: dict[str, str] = {}
    routers: list[tuple[str, str]] = []  # (router id, subnet id)
    fip = None
    try:
        nets = []
        for i in (1, 2):
            net = user.network.create_network(name=f"{name}-net{i}")
            sub = user.network.create_subnet(network_id=net.id, ip_version=4,
                                             cidr=f"10.7{i}.0.0/24")
            r = user.network.create_router(name=f"{name}-r{i}",
                                           external_gateway_info={"network_id": ext.id})
            user.network.add_interface_to_router(r, subnet_id=sub.id)
            routers.append((r.id, sub.id))
            nets.append(net.id)
        r1, r2 = (rid for rid, _ in routers)
        for vm, net_id in (("a", nets[0]), ("b", nets[0]), ("c", nets[1])):
            vms[vm] = user.compute.create_server(
                name=f"{name}-vm{vm}", image_id="astara-tenant", flavor_id="1",
                networks=[{"uuid": net_id}]).id
        for rid in (r1, r2):
            wait_for(lambda rid=rid: (v := rpc_view(state, rpc, rid)) and v["steps"]
                     and v["steps"][-1]["step"] == "Alive", 240,
                     f"router {rid}'s appliance booted and configured")
        gw = {rid: next(f["ip_address"] for f in user.network.get_router(rid)
                        .external_gateway_info["external_fixed_ips"]) for rid in (r1, r2)}
        port, ns = {}, {}
        for vm, vm_id in vms.items():
            wait_for(lambda vm_id=vm_id: user.compute.get_server(vm_id).status == "ACTIVE",
                     120, f"vm {vm} ACTIVE")
            port[vm] = next(iter(user.network.ports(device_id=vm_id))).id
            ns[vm] = f"astara-vm-{vm_id}"
        for vm in vms:
            wait_for(lambda vm=vm: pings(ns[vm], upstream.address), 90,
                     f"vm {vm} reaches upstream through its router's SNAT")

        def source(vm: str) -> str:  # the address upstream sees vm's request come from
            return curl(ns[vm], f"http://{upstream.address}:{upstream.port}/")

        tries: list[float] = []  # how long each of upstream's requests took

        def answers(addr: str) -> str:  # whose http responder upstream reaches at addr
            t0 = time.monotonic()
            try:
                return curl(upstream.ns, f"http://{addr}/")
            finally:
                tries.append(time.monotonic() - t0)

        def reached(vm: str, what: str, t0: float) -> None:
            tries.clear()
            wait_for(lambda: f"{name}-vm{vm}" in answers(addr), 60,
                     f"upstream reaches vm {vm} at {addr}")
            # The longest request tells a lost SYN (retransmitted after 1 s) apart.
            timed(f"{what} ({len(tries)} requests, longest {max(tries):.1f} s)", t0)

        t = time.monotonic()
        fip = user.network.create_ip(floating_network_id=ext.id, port_id=port["a"])
        addr = fip.floating_ip_address
        reached("a", "floating IP associated with vm a -> upstream reaches a", t)
        assert source("a") == addr

        # 1. Same router: straight to B's port, one PUT.
        t = time.monotonic()
        user.network.update_ip(fip, port_id=port["b"])
        reached("b", "moved a -> b (same router) -> upstream reaches b", t)
        assert source("b") == addr
        assert source("a") == gw[r1], "vm a leaves by its router's SNAT again"
        wait_for(lambda: addr in (rpc_view(state, rpc, r1) or {}).get("floating_ips", []),
                 30, "router 1's report holds the floating IP")

        # 2. Another router: straight to C's port behind router 2. Neutron's
        # notification names router 2 only: router 1 is woken from our own records.
        woken = intake_lines(state, r1)
        t = time.monotonic()
        user.network.update_ip(fip, port_id=port["c"])
        reached("c", "moved b -> c (another router) -> upstream reaches c", t)
        inst1 = view(state, rpc, r1)["instance_id"]
        wait_for(lambda: not holds(appliance_ruleset(inst1), addr), 30,
                 "router 1's appliance dropped the floating IP's DNAT and ARP")
        timed("moved b -> c -> router 1's appliance holds it no more", t)
        assert intake_lines(state, r1) > woken, "the move's notification woke router 1"
        assert holds(appliance_ruleset(view(state, rpc, r2)["instance_id"]), addr)
        assert source("c") == addr
        assert source("b") == gw[r1], "vm b leaves by its router's SNAT again"

        user.network.delete_ip(fip)
        fip = None
        for vm_id in vms.values():
            user.compute.delete_server(vm_id)
        for vm_id in vms.values():
            wait_for(lambda vm_id=vm_id: not list(admin.network.ports(device_id=vm_id)),
                     60, "the instance's port deleted")
        vms.clear()
        for rid, sub_id in routers:
            user.network.remove_interface_from_router(rid, subnet_id=sub_id)
            user.network.delete_router(rid)
        routers.clear()
        wait_for(lambda: not appliance_netns(), 180, "the routers' appliances removed")
    except AssertionError as exc:
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted((state / "logs").glob("*.log")))
        raise AssertionError(f"{exc}\n{logs}") from None
    finally:
        if fip is not None:
            user.network.delete_ip(fip)
        for vm_id in vms.values():
            user.compute.delete_server(vm_id)
        for rid, sub_id in routers:
            try:
                user.network.remove_interface_from_router(rid, subnet_id=sub_id)
                user.network.delete_router(rid)
            except openstack.exceptions.SDKException:
                pass  # the stack goes next: its appliances with it
        upstream.close()


def printer(capsys) -> Callable[[str, float], None]:
    def timed(what: str, t0: float) -> None:
        with capsys.disabled():
            print(f"{what}: {time.monotonic() - t0:.1f} s")
    return timed
