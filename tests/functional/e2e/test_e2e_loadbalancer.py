"""A load balancer end to end, as root, on a real all-in-one stack, through openstacksdk:

a tenant network behind a router, two instances answering HTTP with their names and a
third as the client; a load balancer on the subnet with an HTTP listener, a
round-robin pool of the two instances and an HTTP monitor. The VIP answers from the
client with both names; L7 policies redirect (302 with Location), send a path to a
second pool and reject (403), and go again; a member stopped is taken out (ERROR) and
the other answers alone (``astara-ctl loadbalancer list|show`` shows it so);
``cascade`` delete leaves no appliance, no VIP port and no haproxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import openstack
import pytest
from keystoneauth1 import noauth, session
from tests.functional.e2e.e2e_helpers import answers, haproxy_in, netns
from tests.support import wait_for

from astara.burnin.scenario import Options, connection

BIN = Path(sys.executable).parent
NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "haproxy", "curl")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def lb_connection(url: str, project: str):
    headers = {"X-Project-Id": project, "X-User-Id": f"e2e-{project[-6:]}",
               "X-Roles": "member,reader"}
    sess = session.Session(auth=noauth.NoAuth(), additional_headers=headers)
    return openstack.connection.Connection(session=sess, region_name="RegionOne",
                                           load_balancer_endpoint_override=url)


def fetch(client_ns: str, vip: str, path: str) -> str:
    """``<status> <Location>`` and the body, as the client sees them."""
    r = subprocess.run(["ip", "netns", "exec", client_ns, "curl", "-s", "--max-time", "2",
                        "-w", "\n%{http_code} %{redirect_url}", f"http://{vip}{path}"],
                       capture_output=True, text=True)
    body, _, head = r.stdout.rpartition("\n")
    return f"{head.strip()} {body.strip()}".strip()


def ctl(state, ports: dict, *args: str):
    """``astara-ctl --format json`` on this stack's orchestrator, as an operator runs it."""
    r = subprocess.run([str(BIN / "astara-ctl"), "--url", f"http://127.0.0.1:{ports['rpc']}",
                        "--format", "json", *args], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "ASTARA_STATE_PATH": str(state)})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_tenant_load_balancer_round_robins_heals_and_goes_away(aio):
    ports, state = aio
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    user = connection(o, "e2e-lb", False)
    lbs = lb_connection(f"http://127.0.0.1:{ports['lb']}/", "e2e-lb").load_balancer
    net = user.network.create_network(name="e2e-lb-net")
    sub = user.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.77.0.0/24")
    router = user.network.create_router(name="e2e-lb-router")
    user.network.add_interface_to_router(router, subnet_id=sub.id)
    vms = [user.compute.create_server(name=f"e2e-lb-{n}", image_id="astara-tenant",
                                      flavor_id="1", networks=[{"uuid": net.id}])
           for n in ("web1", "web2", "client")]
    for vm in vms:
        wait_for(lambda vm=vm: user.compute.get_server(vm.id).status == "ACTIVE", 120,
                 f"{vm.name} ACTIVE", 0.2)
    address = {vm.name: next(p.fixed_ips[0]["ip_address"]
                             for p in user.network.ports(device_id=vm.id)) for vm in vms}
    client = f"astara-vm-{vms[2].id}"
    # The client has its lease once the router serves DHCP: it reaches web1 directly.
    wait_for(lambda: answers(client, address["e2e-lb-web1"]), 120, "web1 from the client", 0.2)

    t0 = time.monotonic()
    lb = lbs.create_load_balancer(name="e2e-lb", vip_subnet_id=sub.id)
    listener = lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    pool = lbs.create_pool(listener_id=listener.id, protocol="HTTP",
                           lb_algorithm="ROUND_ROBIN")
    members = {name: lbs.create_member(pool, address=address[name], protocol_port=80)
               for name in ("e2e-lb-web1", "e2e-lb-web2")}
    lbs.create_health_monitor(pool_id=pool.id, type="HTTP", delay=1, timeout=1,
                              max_retries=1, max_retries_down=1, url_path="/")
    wait_for(lambda: lbs.get_load_balancer(lb.id).provisioning_status == "ACTIVE", 120,
             "the load balancer ACTIVE", 0.2)
    seen: set[str] = set()
    wait_for(lambda: seen.add(answers(client, lb.vip_address) or "") or
             {"e2e-lb-web1", "e2e-lb-web2"} <= seen, 60, "both members through the VIP", 0.1)
    print(f"load balancer created -> VIP answered by both members in "
          f"{time.monotonic() - t0:.2f} s")
    assert lbs.get_load_balancer(lb.id).operating_status == "ONLINE"
    # The operator sees it with astara-ctl, as a load balancer and not as a router
    # (a worker reports to the parent at most once a second: the view may lag).
    shown = wait_for(lambda: next((v for v in ctl(state, ports, "loadbalancer", "list")
                                   if v["id"] == lb.id and v["status"] == "ACTIVE"), None),
                     10, "astara-ctl loadbalancer list showing it ACTIVE", 0.2)
    assert (shown["vip_address"], shown["listeners"], shown["members"]) == (
        lb.vip_address, 1, 2)
    assert shown["instance_id"] and shown["provisioning_status"] == "ACTIVE"
    assert lb.id not in [v["id"] for v in ctl(state, ports, "router", "list")]

    # L7 policies: a path to a second pool (web2 alone), a redirect, a reject.
    only2 = lbs.create_pool(loadbalancer_id=lb.id, protocol="HTTP",
                            lb_algorithm="ROUND_ROBIN")
    lbs.create_member(only2, address=address["e2e-lb-web2"], protocol_port=80)
    policies = [
        lbs.create_l7_policy(listener_id=listener.id, action="REDIRECT_TO_POOL",
                             redirect_pool_id=only2.id),
        lbs.create_l7_policy(listener_id=listener.id, action="REDIRECT_TO_URL",
                             redirect_url="http://example.com/new"),
        lbs.create_l7_policy(listener_id=listener.id, action="REJECT")]
    for policy, path in zip(policies, ("/two", "/old", "/deny"), strict=True):
        lbs.create_l7_rule(policy, type="PATH", compare_type="STARTS_WITH", rule_value=path)
    wait_for(lambda: lbs.get_load_balancer(lb.id).provisioning_status == "ACTIVE", 60,
             "the load balancer ACTIVE with its L7 policies", 0.2)
    assert {lbs.get_l7_policy(p.id).provisioning_status for p in policies} == {"ACTIVE"}
    assert {fetch(client, lb.vip_address, "/two/x") for _ in range(4)} == {"200 e2e-lb-web2"}
    assert fetch(client, lb.vip_address, "/old/page") == "302 http://example.com/new"
    assert fetch(client, lb.vip_address, "/deny").startswith("403 ")
    for policy in policies:  # and gone again: the default pool serves every path
        lbs.delete_l7_policy(policy)
    lbs.delete_pool(only2)
    wait_for(lambda: fetch(client, lb.vip_address, "/deny").startswith("200 "), 60,
             "the L7 policies gone", 0.2)

    # A member whose instance stops answering is taken out; the other serves alone.
    user.compute.stop_server(vms[1])
    wait_for(lambda: lbs.get_member(members["e2e-lb-web2"], pool).operating_status == "ERROR",
             60, "the stopped member ERROR", 0.2)
    assert {answers(client, lb.vip_address) for _ in range(6)} == {"e2e-lb-web1"}
    assert lbs.get_load_balancer(lb.id).operating_status == "DEGRADED"
    wait_for(lambda: ctl(state, ports, "loadbalancer", "show", lb.id)["operating_status"]
             == "DEGRADED", 10, "astara-ctl loadbalancer show saying DEGRADED", 0.2)

    # Cascade delete: no appliance, no VIP port, no haproxy.
    appliances = {n for n in netns() if n.startswith("astara-appliance-") and haproxy_in(n)}
    assert len(appliances) == 1
    lbs.delete_load_balancer(lb.id, cascade=True)
    # The VIP port (its address) is kept while the appliance may answer on it: seen
    # gone, the appliance must have been gone before (looked at after the port).
    port_gone = user.network.find_port(lb.vip_port_id) is None
    assert not (port_gone and any(os.path.exists(f"/run/netns/{n}") for n in appliances))
    wait_for(lambda: not any(os.path.exists(f"/run/netns/{n}") for n in appliances), 60,
             "the load balancer's appliance gone", 0.2)
    wait_for(lambda: user.network.find_port(lb.vip_port_id) is None, 60,
             "the VIP port released after its appliance", 0.2)

    # What the tenant made goes too: no appliance survives its router.
    for vm in vms:
        user.compute.delete_server(vm.id)
    user.network.remove_interface_from_router(router, subnet_id=sub.id)
    user.network.delete_router(router)
    wait_for(lambda: not [n for n in netns() if n.startswith(("astara-appliance-",
                                                                 "astara-vm-"))], 120,
             "every appliance and instance namespace gone", 0.2)
