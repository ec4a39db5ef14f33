"""The orchestrator under stress, as root, on a real all-in-one stack:

1. killed (-9) while 20 routers are being created, it is restarted (by astara-aio)
   and converges all 20, each with exactly one appliance;
2. restarted with 20 healthy routers, it reconfigures none of them and a host
   behind one of them loses no ping to upstream;
3. an appliance's namespace deleted behind its back is detected and rebuilt;
4. deleting everything leaves no appliance behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess

import httpx
import pytest
from tests.functional.e2e.e2e_helpers import appliance_netns
from tests.support import wait_for

from astara.burnin.host import Upstream, in_ns
from astara.burnin.scenario import Options, connection
from astara.compute_service.agent.netns import bridge_name
from astara.wire import auth

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "ping")
ROUTERS = 20

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]





def orchestrator_pid(state) -> int:
    out = subprocess.run(["pgrep", "-f", f"astara-orchestrator --state-path {state}"],
                         capture_output=True, text=True).stdout.split()
    assert out, "orchestrator not running"
    return int(out[0])


def rpc_routers(state, rpc: str, timeout: float = 5.0) -> list[dict]:
    """GET /routers/ with the token astara-aio wrote in its state directory."""
    token = (state / "rpc_auth_token").read_text().strip()
    return httpx.get(f"{rpc}/routers/", headers={"X-Auth-Token": token},
                     timeout=timeout).json()["routers"]


def applies(state, view: dict) -> int:
    """The appliance's own count, asked with its secret (as the orchestrator does)."""
    key = (state / "appliance_auth_key").read_bytes().strip()
    secret = auth.appliance_secret(key, view["instance_id"])
    return httpx.get(f"http://[{view['management_address']}]:5000/v1/status/", timeout=5,
                     headers={auth.HEADER: auth.bearer(secret)}).json()["applies"]


def test_orchestrator_survives_restarts_and_repairs(aio, tmp_path):
    ports, state = aio
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    admin, user = connection(o, "e2e-admin", True), connection(o, "e2e-user", False)
    rpc = f"http://127.0.0.1:{ports['rpc']}"
    ext = admin.network.create_network(name="e2e-public", is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, cidr="198.51.100.0/24", ip_version=4,
                                is_dhcp_enabled=False, gateway_ip="198.51.100.1",
                                allocation_pools=[{"start": "198.51.100.10",
                                                   "end": "198.51.100.200"}])
    upstream = Upstream("e2eo", bridge_name("brq", ext.id), "198.51.100.0/24", "198.51.100.1")
    upstream.open()
    try:
        # 1. Kill the orchestrator while the routers are being created.
        routers = []
        for i in range(ROUTERS):
            net = user.network.create_network(name=f"e2e-net{i}")
            sub = user.network.create_subnet(network_id=net.id, ip_version=4,
                                             cidr=f"10.{100 + i}.0.0/24")
            r = user.network.create_router(name=f"e2e-r{i}",
                                           external_gateway_info={"network_id": ext.id})
            user.network.add_interface_to_router(r, subnet_id=sub.id)
            routers.append((r.id, net.id))
            if i == ROUTERS // 3:
                os.kill(orchestrator_pid(state), signal.SIGKILL)
        wait_for(lambda: all(user.network.get_router(rid).status == "ACTIVE" for rid, _ in routers),
             300, "all routers ACTIVE after the orchestrator was killed")
        for rid, _ in routers:
            found = list(admin.compute.servers(all_projects=True, name=f"^ak-{rid}$"))
            assert len(found) == 1, f"router {rid} has {len(found)} appliances"

        # A host behind the first router, pinging upstream through it.
        rid0, net0 = routers[0]
        vm = user.compute.create_server(name="e2e-vm", image_id="astara-tenant",
                                        flavor_id="1", networks=[{"uuid": net0}])
        wait_for(lambda: user.compute.get_server(vm.id).status == "ACTIVE", 60, "vm ACTIVE")
        vm_ns = f"astara-vm-{vm.id}"
        wait_for(lambda: in_ns(vm_ns, "ping", "-c1", "-W1", upstream.address,
                           check=False).returncode == 0, 60, "vm reaches upstream")

        def all_alive():
            try:
                rs = rpc_routers(state, rpc)
            except httpx.TransportError:
                return False
            return len(rs) >= ROUTERS and all(r["steps"] and r["steps"][-1]["step"] == "Alive"
                                              for r in rs)

        # 2. Restart with 20 healthy routers: no reconfiguration, no lost ping.
        # The views are the workers' reports, up to a second behind the routers' status.
        wait_for(all_alive, 30, "the orchestrator's views show every router healthy")
        views = {r["id"]: r for r in rpc_routers(state, rpc)}
        before = {rid: applies(state, views[rid]) for rid, _ in routers}
        ping_log = tmp_path / "ping.log"
        with ping_log.open("w") as out:
            pinger = subprocess.Popen(["ip", "netns", "exec", vm_ns, "ping", "-i", "0.2", "-c",
                                       "75", "-W", "1", upstream.address],
                                      stdout=out, stderr=subprocess.STDOUT)
        # the kill comes once the ping is answered, so the restart falls inside the count
        wait_for(lambda: " bytes from " in ping_log.read_text() or pinger.poll() is not None,
                 30, "the first ping reply")
        assert pinger.poll() is None, ping_log.read_text()
        old = orchestrator_pid(state)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: _pid_or_none(state) not in (None, old), 60, "orchestrator restarted")

        wait_for(all_alive, 120, "restarted orchestrator sees every router healthy")
        pinger.wait(timeout=60)
        out = ping_log.read_text()
        loss = re.search(r"(\d+(?:\.\d+)?)% packet loss", out)
        assert loss and float(loss.group(1)) == 0.0, out
        after = {rid: applies(state, views[rid]) for rid, _ in routers}
        assert after == before, "a restart reconfigured appliances"

        # 3. An appliance's namespace deleted behind the orchestrator's back.
        instance = views[rid0]["instance_id"]
        subprocess.run(["ip", "netns", "del", f"astara-appliance-{instance}"], check=True)
        wait_for(lambda: next((r for r in rpc_routers(state, rpc)
                           if r["id"] == rid0 and r["instance_id"] not in (None, instance)
                           and r["steps"][-1]["step"] == "Alive"), None),
             180, "appliance rebuilt")
        wait_for(lambda: in_ns(vm_ns, "ping", "-c1", "-W1", upstream.address,
                           check=False).returncode == 0, 60, "vm reaches upstream again")

        # 4. Delete everything: no appliance survives its router.
        user.compute.delete_server(vm.id)
        for rid, net_id in routers:
            sub_id = user.network.get_network(net_id).subnet_ids[0]
            user.network.remove_interface_from_router(rid, subnet_id=sub_id)
            user.network.delete_router(rid)
        wait_for(lambda: not appliance_netns(), 180,
             "every appliance namespace gone")
        wait_for(lambda: not list(admin.compute.servers(all_projects=True)), 60,
             "every instance gone")
    finally:
        upstream.close()


def _pid_or_none(state):
    out = subprocess.run(["pgrep", "-f", f"astara-orchestrator --state-path {state}"],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None
