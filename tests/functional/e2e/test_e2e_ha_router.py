"""An HA router on a real all-in-one with two compute hosts (``--compute-hosts 2``), as root:

1. ``ha=True`` (set by an admin) -> two appliances, on the two compute hosts, one
   master; a tenant instance pings the upstream and holds a TCP connection through SNAT;
2. the master dies (its processes killed, its links and namespace deleted) -> the
   backup takes the addresses, the connection survives (the upstream speaks first:
   only the NAT entry conntrackd synced lets it through), the gap is printed; the
   orchestrator boots a replacement, which joins as backup;
3. ``ha=False`` -> one appliance, the router still forwards;
4. ``enable_snat=false`` -> the upstream sees the instance's own address; back to the
   default, the router's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tests.functional.e2e.e2e_helpers import appliance_netns
from tests.support import wait_for

from astara.burnin.ha import Held, ha_of, kill, reply_gap, router_view
from astara.burnin.host import Upstream, in_ns
from astara.burnin.scenario import Options, connection
from astara.compute_service.agent.netns import bridge_name

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "ping", "keepalived", "conntrackd")
PORT = 7100
CIDR = "10.61.0.0/24"

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def seen_by_upstream(vm_ns: str, upstream: Upstream) -> str:
    """The source address the upstream's HTTP server saw (it answers with it)."""
    code = ("import urllib.request,sys;print(urllib.request.urlopen("
            f"'http://{upstream.address}:{upstream.port}/',timeout=3).read().decode())")
    out = in_ns(vm_ns, sys.executable, "-c", code, check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def appliances(admin, router_id: str) -> dict[str, object]:
    return {s.name: s for s in admin.compute.servers(all_projects=True)
            if s.name.startswith(f"ak-{router_id}") and s.status != "DELETED"}


@pytest.mark.parametrize("aio", [["--compute-hosts", "2"]], indirect=True)
def test_ha_router_pair_fails_over_and_is_repaired(aio):
    ports, state = aio
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    admin, user = connection(o, "e2e-admin", True), connection(o, "e2e-user", False)
    rpc = f"http://127.0.0.1:{ports['rpc']}"
    ext = admin.network.create_network(name="ha-public", is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, cidr="198.51.100.0/24", ip_version=4,
                                is_dhcp_enabled=False, gateway_ip="198.51.100.1",
                                allocation_pools=[{"start": "198.51.100.10",
                                                   "end": "198.51.100.200"}])
    upstream = Upstream("e2eha", bridge_name("brq", ext.id), "198.51.100.0/24",
                        "198.51.100.1")
    upstream.open()
    vm = None
    try:
        net = user.network.create_network(name="ha-net")
        sub = user.network.create_subnet(network_id=net.id, ip_version=4, cidr=CIDR)
        router = user.network.create_router(name="ha-r",
                                            external_gateway_info={"network_id": ext.id})
        user.network.add_interface_to_router(router, subnet_id=sub.id)
        assert admin.network.update_router(router.id, is_ha=True).is_ha is True
        gw_ip = user.network.get_router(router.id).external_gateway_info[
            "external_fixed_ips"][0]["ip_address"]

        # 1. two appliances on two hosts, one master
        def pair():
            view = router_view(state, rpc, router.id)
            return (view or {}).get("ha")

        wait_for(lambda: (p := pair()) and p["state"] == "ACTIVE"
                 and p["master"] is not None, 300, "the pair configured, with a master",
                 why=pair)
        found = appliances(admin, router.id)
        assert set(found) == {f"ak-{router.id}", f"ak-{router.id}.ha1"}
        hosts = {admin.compute.get_server(s.id).compute_host for s in found.values()}
        assert len(hosts) == 2, hosts
        assert pair()["warning"] is None
        assert user.network.get_router(router.id).status == "ACTIVE"

        vm = user.compute.create_server(name="ha-vm", image_id="astara-tenant",
                                        flavor_id="1", networks=[{"uuid": net.id}])
        wait_for(lambda: user.compute.get_server(vm.id).status == "ACTIVE", 60, "vm ACTIVE")
        vm_ns = f"astara-vm-{vm.id}"
        wait_for(lambda: in_ns(vm_ns, "ping", "-c1", "-W1", upstream.address,
                               check=False).returncode == 0, 90, "vm reaches upstream")
        held = Held(upstream.ns, vm_ns, upstream.address, PORT)
        assert held.peer[0] == gw_ip  # through SNAT, to the router's (virtual) address
        assert held.works(b"before\n")
        p = pair()
        m = p["master"]
        master, backup = p["members"][m], p["members"][1 - m]
        wait_for(lambda: (ha_of(state, backup).get("external_connections") or 0) >= 1,
                 30, "the backup's conntrackd holding the master's connections")

        # 2. the master dies
        ping = subprocess.Popen(["ip", "netns", "exec", vm_ns, "ping", "-D", "-n", "-i",
                                 "0.05", "-W", "1", upstream.address],
                                stdout=subprocess.PIPE, text=True)
        try:
            killed = time.monotonic()
            kill(master["instance_id"])
            wait_for(lambda: ha_of(state, backup).get("role") == "master", 15,
                     "the backup taking over")
            taken = time.monotonic() - killed
            wait_for(lambda: in_ns(vm_ns, "ping", "-c1", "-W1", upstream.address,
                                   check=False).returncode == 0, 15, "upstream again")
        finally:
            ping.send_signal(signal.SIGINT)
            output, _ = ping.communicate(timeout=10)
        print(f"\nHA failover (e2e): backup master {taken:.3f} s after the kill; longest "
              f"gap between ping replies {reply_gap(output):.3f} s")
        assert held.works(b"after\n")  # the upstream first: only the synced NAT entry fits

        def replaced():
            q = pair()
            if not q:
                return None
            new = q["members"][m]
            return q if (new["instance_id"] not in (None, master["instance_id"])
                         and q["state"] == "ACTIVE" and new["role"] == "backup"
                         and q["members"][1 - m]["role"] == "master") else None

        q = wait_for(replaced, 300, "a replacement joining as backup", why=pair)
        assert ha_of(state, q["members"][m]).get("role") == "backup"
        assert held.works(b"still\n")  # the replacement took nothing over
        held.close()

        # 3. HA off: one appliance, still forwarding
        assert admin.network.update_router(router.id, is_ha=False).is_ha is False
        wait_for(lambda: set(appliances(admin, router.id)) == {f"ak-{router.id}"}
                 and (router_view(state, rpc, router.id) or {}).get("ha") is None
                 and (router_view(state, rpc, router.id) or {}).get("healthy"),
                 180, "back to one appliance")
        wait_for(lambda: in_ns(vm_ns, "ping", "-c1", "-W1", upstream.address,
                               check=False).returncode == 0, 60, "upstream as a single router")

        # 4. enable_snat=false: routes only (the upstream routes back to the subnet)
        vm_ip = user.compute.get_server(vm.id).addresses["ha-net"][0]["addr"]
        in_ns(upstream.ns, "ip", "route", "add", CIDR, "via", gw_ip)
        assert seen_by_upstream(vm_ns, upstream) == gw_ip
        admin.network.update_router(router.id, external_gateway_info={
            "network_id": ext.id, "enable_snat": False})
        wait_for(lambda: seen_by_upstream(vm_ns, upstream) == vm_ip, 60,
                 "the upstream seeing the instance's own address")
        admin.network.update_router(router.id, external_gateway_info={
            "network_id": ext.id, "enable_snat": True})
        wait_for(lambda: seen_by_upstream(vm_ns, upstream) == gw_ip, 60,
                 "the upstream seeing the router's address again")

        # Delete everything: no appliance survives its router.
        user.compute.delete_server(vm.id)
        vm = None
        user.network.remove_interface_from_router(router.id, subnet_id=sub.id)
        user.network.delete_router(router.id)
        wait_for(lambda: not appliance_netns(), 180, "every appliance namespace gone")
        wait_for(lambda: not list(admin.compute.servers(all_projects=True)), 60,
                 "every instance gone")
    finally:
        if vm is not None:
            user.compute.delete_server(vm.id)
        upstream.close()
