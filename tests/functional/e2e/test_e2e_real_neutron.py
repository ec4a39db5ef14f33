"""End to end, as root, against a REAL neutron-server (29.0.0 from PyPI,
tools/neutron-loopback): RabbitMQ, PostgreSQL and Keystone on loopback, Neutron with
keystone auth and notifications to RabbitMQ, then ``tools/aio --keystone`` whose
orchestrator and compute service find that Neutron in the catalog and listen to it on
RabbitMQ (``[bus] transport = amqp``). A dual-stack router made on Neutron with
openstacksdk gets an appliance booted through our compute API; an instance on its
tenant network leases its IPv4 address from the appliance's DHCP, forms its IPv6
address from the appliance's router advertisements, reaches the upstream through SNAT
(IPv4) and routed (IPv6), is reached through a floating IP associated on Neutron (and
no more once it is disassociated), and reaches a prefix behind an extra route.

The same stack (started once for this module: about 75 s) then runs DHCPv6 end to end
(tests/dhcpv6_world.py, issue 13: Neutron's IPAM allocates the stateful port's address
from the pool, the stateless one's by EUI-64) and a floating IP moved between ports
(tests/fip_world.py). Each test removes what it made and waits for its appliances to go.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import openstack
import pytest
from tests import dhcpv6_world, real_neutron_stack
from tests.fip_world import move_floating_ip, printer
from tests.functional.e2e.e2e_helpers import appliance_netns, curl, logs, pings
from tests.real_neutron_stack import rpc_view
from tests.support import wait_for

from astara.burnin.host import Upstream, in_ns
from astara.compute_service.agent.netns import bridge_name

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "ping", "curl", "rdisc6")
UP6 = "2001:db8:ff::1"  # the upstream's IPv6 address (the external v6 subnet's gateway)
TENANT6 = "2001:db8:61::/64"
HOP, BEHIND_HOP = "10.61.0.250", "10.62.0.1"  # an extra route's next hop, and behind it

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def lease(state: Path, vm_id: str) -> str:
    """The instance's dhclient lease file (what its DHCP server answered)."""
    found = list(state.glob(f"**/instances/{vm_id}/dhclient-*.leases"))
    return found[0].read_text() if found else ""


@pytest.fixture
def clients(real_neutron, monkeypatch):
    """openstacksdk as the stack's admin and its member, from the clouds.yaml it wrote."""
    _, state = real_neutron
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(state / "clouds.yaml"))
    return openstack.connect(cloud="astara-admin"), openstack.connect(cloud="astara")


def test_a_router_made_on_real_neutron_forwards_through_an_appliance(real_neutron, clients,
                                                                    capsys):
    ports, state = real_neutron
    admin, user = clients
    ext = admin.network.create_network(name="rn-public", is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, cidr="198.51.100.0/24", ip_version=4,
                                is_dhcp_enabled=False, gateway_ip="198.51.100.1",
                                allocation_pools=[{"start": "198.51.100.10",
                                                   "end": "198.51.100.200"}])
    admin.network.create_subnet(network_id=ext.id, cidr="2001:db8:ff::/64", ip_version=6,
                                is_dhcp_enabled=False, gateway_ip=UP6)
    upstream = Upstream("rn", bridge_name("brq", ext.id), "198.51.100.0/24", "198.51.100.1")
    upstream.open()
    in_ns(upstream.ns, "ip", "-6", "addr", "add", f"{UP6}/64", "dev", "eth0", "nodad")
    hop: Upstream | None = None
    vm = None

    def timed(what: str, t0: float) -> None:
        with capsys.disabled():
            print(f"{what}: {time.monotonic() - t0:.1f} s")

    try:
        net = user.network.create_network(name="rn-net")
        sub = user.network.create_subnet(network_id=net.id, ip_version=4,
                                         cidr="10.61.0.0/24", allocation_pools=[
                                             {"start": "10.61.0.2", "end": "10.61.0.200"}])
        sub6 = user.network.create_subnet(network_id=net.id, ip_version=6, cidr=TENANT6,
                                          ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
        router = user.network.create_router(name="rn-r1",
                                            external_gateway_info={"network_id": ext.id})
        user.network.add_interface_to_router(router, subnet_id=sub.id)
        user.network.add_interface_to_router(router, subnet_id=sub6.id)
        rpc = f"http://127.0.0.1:{ports['rpc']}"
        t = time.monotonic()
        wait_for(lambda: (v := rpc_view(state, rpc, router.id)) and v["steps"]
                 and v["steps"][-1]["step"] == "Alive", 240,
                 "the router's appliance booted and configured (the orchestrator's view)")
        timed("router ready after its interfaces were added", t)
        # Neutron's status is read-only: the router's ACTIVE is the orchestrator's own.
        assert rpc_view(state, rpc, router.id)["status"] == "ACTIVE"
        # Heard from Neutron itself: its own notification, over RabbitMQ.
        orch_log = (state / "logs" / "orchestrator.log").read_text(errors="replace")
        assert f"intake: router.interface.create -> router {router.id}" in orch_log
        # Its appliance's ports are Neutron's: the orchestrator made the management port.
        mgmt = list(admin.network.ports(device_id=router.id,
                                        device_owner="network:astara_management"))
        assert len(mgmt) == 1
        gw = {":" in f["ip_address"]: f["ip_address"] for f in
              user.network.get_router(router.id).external_gateway_info["external_fixed_ips"]}
        # IPv6 is routed, not translated: upstream routes the tenant prefix to the router.
        in_ns(upstream.ns, "ip", "-6", "route", "add", TENANT6, "via", gw[True])

        t = time.monotonic()
        vm = user.compute.create_server(name="rn-vm", image_id="astara-tenant",
                                        flavor_id="1", networks=[{"uuid": net.id}])
        wait_for(lambda: user.compute.get_server(vm.id).status == "ACTIVE", 120, "vm ACTIVE")
        port = next(iter(user.network.ports(device_id=vm.id)))
        ip = {":" in f["ip_address"]: f["ip_address"] for f in port.fixed_ips}
        vm_ns = f"astara-vm-{vm.id}"
        wait_for(lambda: pings(vm_ns, upstream.address), 90,
                 "the instance reaches upstream through the appliance's SNAT")
        timed("instance booted to its first ping upstream", t)
        # Its address is a lease from the appliance's dnsmasq (the router's interface).
        held = lease(state, vm.id)
        assert f"fixed-address {ip[False]};" in held, held
        assert "dhcp-server-identifier 10.61.0.1;" in held, held
        assert curl(vm_ns, f"http://{upstream.address}:{upstream.port}/") == gw[False]
        # IPv6: the address Neutron gave the port, formed from the appliance's RA.
        wait_for(lambda: ip[True] in in_ns(vm_ns, "ip", "-6", "-o", "addr").stdout, 30,
                 f"the instance configures {ip[True]} by SLAAC")
        wait_for(lambda: pings(vm_ns, UP6), 30, "the instance reaches upstream over IPv6")

        t = time.monotonic()
        fip = user.network.create_ip(floating_network_id=ext.id, port_id=port.id)
        addr = fip.floating_ip_address
        wait_for(lambda: "rn-vm" in curl(upstream.ns, f"http://{addr}/"), 60,
                 f"upstream reaches the instance at its floating IP {addr}")
        timed("floating IP associated on Neutron -> upstream reaches the instance", t)
        assert curl(vm_ns, f"http://{upstream.address}:{upstream.port}/") == addr
        t = time.monotonic()
        user.network.update_ip(fip, port_id=None)
        wait_for(lambda: curl(vm_ns, f"http://{upstream.address}:{upstream.port}/")
                 == gw[False], 60, "the instance's outbound back to the router's SNAT")
        timed("floating IP disassociated -> the instance leaves by SNAT again", t)
        assert "rn-vm" not in curl(upstream.ns, f"http://{addr}/")
        user.network.delete_ip(fip)
        # Neutron keeps port status itself: its DOWN port is not logged as made ACTIVE.
        orch_log = (state / "logs" / "orchestrator.log").read_text(errors="replace")
        assert f"port {port.id} ACTIVE" not in orch_log

        # An extra route: a prefix behind a host on the tenant network.
        hop = Upstream("rnh", bridge_name("brq", net.id), "10.61.0.0/24", HOP)
        hop.open()
        in_ns(hop.ns, "ip", "addr", "add", f"{BEHIND_HOP}/32", "dev", "lo")
        assert not pings(vm_ns, BEHIND_HOP)
        t = time.monotonic()
        user.network.update_router(router, routes=[{"destination": "10.62.0.0/24",
                                                    "nexthop": HOP}])
        wait_for(lambda: pings(vm_ns, BEHIND_HOP), 60,
                 "the instance reaches the prefix behind the extra route's next hop")
        timed("extra route set on Neutron -> the prefix behind it answers", t)
        # Off the tenant bridge before the last port leaves it (the agent removes it then).
        hop.close()
        hop = None

        user.compute.delete_server(vm.id)
        # Its port goes from Neutron too (a member may not delete a compute:* port there).
        wait_for(lambda: not list(admin.network.ports(device_id=vm.id)), 30,
                 "the instance's port deleted on Neutron")
        vm = None
        user.network.update_router(router, routes=[])
        for s in (sub, sub6):
            user.network.remove_interface_from_router(router, subnet_id=s.id)
        user.network.delete_router(router)
        wait_for(lambda: not appliance_netns(), 180,
                 "the router's appliance removed")
        # Every port was given back (the router's went with it on Neutron).
        compute_log = (state / "logs" / "compute-api.log").read_text(errors="replace")
        assert "could not release port" not in compute_log
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{logs(state)}") from None
    finally:
        if vm is not None:
            user.compute.delete_server(vm.id)
        if hop is not None:
            hop.close()
        upstream.close()


def test_dhcpv6_stateful_and_stateless_instances_on_real_neutron(real_neutron, clients,
                                                                  capsys):
    ports, state = real_neutron
    admin, user = clients
    rpc = f"http://127.0.0.1:{ports['rpc']}"

    def timed(what: str, t0: float) -> None:
        with capsys.disabled():
            print(f"\nreal Neutron {what}: {time.monotonic() - t0:.1f} s", end="")

    try:
        dhcpv6_world.exercise(
            admin, user, state,
            router_ready=lambda rid: real_neutron_stack.configured(state, rpc, rid),
            timed=timed, tag="rn6")
    except AssertionError as exc:
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted((state / "logs").glob("*.log")))
        raise AssertionError(f"{exc}\n{logs}") from None


def test_a_floating_ip_moves_between_ports_on_real_neutron(real_neutron, clients, capsys):
    ports, state = real_neutron
    move_floating_ip(*clients, state, f"http://127.0.0.1:{ports['rpc']}", "fmn",
                     printer(capsys))
