"""End to end, as root, against a REAL neutron-server (29.0.0 from PyPI,
tools/neutron-loopback): RabbitMQ, PostgreSQL and Keystone on loopback, Neutron with
keystone auth and notifications to RabbitMQ, then ``tools/aio --keystone`` whose
orchestrator and compute service find that Neutron in the catalog and listen to it on
RabbitMQ (``[bus] transport = amqp``). A router made on Neutron with openstacksdk gets
an appliance booted through our compute API, and an instance on the tenant network
pings the upstream through its SNAT."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import openstack
import pytest
from tests.support import wait_for

from astara.burnin.host import Upstream, in_ns
from astara.compute_service.agent.netns import bridge_name

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "ping")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def appliances() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.startswith("astara-appliance-")]


def rpc_view(state: Path, rpc: str, router_id: str) -> dict | None:
    token = (state / "rpc_auth_token").read_text().strip()
    try:
        routers = httpx.get(f"{rpc}/routers/", headers={"X-Auth-Token": token},
                            timeout=5).json()["routers"]
    except httpx.TransportError:
        return None
    return next((r for r in routers if r["id"] == router_id), None)


def test_a_router_made_on_real_neutron_forwards_through_an_appliance(real_neutron, capsys,
                                                                    monkeypatch):
    ports, state = real_neutron
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(state / "clouds.yaml"))
    admin = openstack.connect(cloud="astara-admin")
    user = openstack.connect(cloud="astara")
    ext = admin.network.create_network(name="rn-public", is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, cidr="198.51.100.0/24", ip_version=4,
                                is_dhcp_enabled=False, gateway_ip="198.51.100.1",
                                allocation_pools=[{"start": "198.51.100.10",
                                                   "end": "198.51.100.200"}])
    upstream = Upstream("rn", bridge_name("brq", ext.id), "198.51.100.0/24", "198.51.100.1")
    upstream.open()
    vm = None
    try:
        net = user.network.create_network(name="rn-net")
        sub = user.network.create_subnet(network_id=net.id, ip_version=4,
                                         cidr="10.61.0.0/24")
        router = user.network.create_router(name="rn-r1",
                                            external_gateway_info={"network_id": ext.id})
        user.network.add_interface_to_router(router, subnet_id=sub.id)
        rpc = f"http://127.0.0.1:{ports['rpc']}"
        t = time.monotonic()
        wait_for(lambda: (v := rpc_view(state, rpc, router.id)) and v["steps"]
                 and v["steps"][-1]["step"] == "Alive", 240,
                 "the router's appliance booted and configured (the orchestrator's view)")
        with capsys.disabled():
            print(f"router ready {time.monotonic() - t:.1f} s after its interface was added")
        # Neutron's status is read-only: the router's ACTIVE is the orchestrator's own.
        assert rpc_view(state, rpc, router.id)["status"] == "ACTIVE"
        # Heard from Neutron itself: its own notification, over RabbitMQ.
        orch_log = (state / "logs" / "orchestrator.log").read_text(errors="replace")
        assert f"intake: router.interface.create -> router {router.id}" in orch_log
        # Its appliance's ports are Neutron's: the orchestrator made the management port.
        mgmt = list(admin.network.ports(device_id=router.id,
                                        device_owner="network:astara_management"))
        assert len(mgmt) == 1
        vm = user.compute.create_server(name="rn-vm", image_id="astara-tenant",
                                        flavor_id="1", networks=[{"uuid": net.id}])
        wait_for(lambda: user.compute.get_server(vm.id).status == "ACTIVE", 120, "vm ACTIVE")
        wait_for(lambda: in_ns(f"astara-vm-{vm.id}", "ping", "-c1", "-W1", upstream.address,
                               check=False).returncode == 0, 90,
                 "the instance reaches upstream through the appliance's SNAT")
        user.compute.delete_server(vm.id)
        vm = None
        user.network.remove_interface_from_router(router, subnet_id=sub.id)
        user.network.delete_router(router)
        wait_for(lambda: not appliances(), 180,
                 "the router's appliance removed")
    except AssertionError:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}"
                         for p in sorted((state / "logs").glob("*.log")))
        raise AssertionError(logs) from None
    finally:
        if vm is not None:
            user.compute.delete_server(vm.id)
        upstream.close()
