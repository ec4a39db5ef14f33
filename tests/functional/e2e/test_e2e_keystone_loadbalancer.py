"""A load balancer end to end behind a real Keystone, as root: ``tools/aio --keystone``
up, and a member of the demo project runs the unmodified ``openstack`` commands with the
clouds.yaml it wrote (network, subnet, router, servers, then ``loadbalancer create``,
``listener``, ``pool`` and ``member create``). The orchestrator reads the load balancer
with the astara service user's token and boots its appliance through the compute API:
the load balancer goes ACTIVE/ONLINE, a client instance reaches a backend instance's
HTTP responder through the VIP, and ``loadbalancer delete --cascade`` leaves no
appliance and no VIP port."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import openstack
import pytest
from openstack import config as os_config
from tests.functional.e2e.e2e_helpers import answers, haproxy_in, logs, netns, openstack_cli
from tests.support import wait_for

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "haproxy", "curl")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def member_sdk(state: Path) -> openstack.connection.Connection:
    """The same cloud through openstacksdk, for polling (a fresh ``openstack`` process a
    poll would blur the times measured by its start-up)."""
    region = os_config.OpenStackConfig(config_files=[str(state / "clouds.yaml")]) \
        .get_one(cloud="astara")
    return openstack.connection.Connection(config=region)


def test_member_load_balancer_through_keystone_serves_and_goes_away(aio_keystone, capsys):
    _, state = aio_keystone

    def cli(*args: str):
        return openstack_cli(state, *args)

    sdk = member_sdk(state)
    cli("network", "create", "ks-lb-net")
    sub = cli("subnet", "create", "ks-lb-sub", "--network", "ks-lb-net", "--subnet-range",
              "10.78.0.0/24", "-f", "json")
    cli("router", "create", "ks-lb-router")
    cli("router", "add", "subnet", "ks-lb-router", "ks-lb-sub")
    vms = {name: cli("server", "create", "--image", "astara-tenant", "--flavor", "m1.tiny",
                     "--network", "ks-lb-net", name, "-f", "json")
           for name in ("ks-lb-web", "ks-lb-client")}
    for vm in vms.values():
        wait_for(lambda vm=vm: sdk.compute.get_server(vm["id"]).status == "ACTIVE", 120,
                 f"{vm['name']} ACTIVE", 0.5)
    web = next(p.fixed_ips[0]["ip_address"]
               for p in sdk.network.ports(device_id=vms["ks-lb-web"]["id"]))
    client = f"astara-vm-{vms['ks-lb-client']['id']}"
    try:  # the client has its lease once the router serves DHCP: it reaches web directly
        wait_for(lambda: answers(client, web), 240, "the web instance from the client", 0.5)
    except AssertionError:
        raise AssertionError(logs(state)) from None

    t0 = time.monotonic()
    lb = cli("loadbalancer", "create", "--name", "ks-lb", "--vip-subnet-id", sub["id"],
             "-f", "json")
    listener = cli("loadbalancer", "listener", "create", "--name", "ks-lb-l",
                   "--protocol", "HTTP", "--protocol-port", "80", lb["id"], "-f", "json")
    pool = cli("loadbalancer", "pool", "create", "--name", "ks-lb-p", "--listener",
               listener["id"], "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
               "-f", "json")
    cli("loadbalancer", "member", "create", "--subnet-id", sub["id"], "--address", web,
        "--protocol-port", "80", pool["id"], "-f", "json")
    try:
        wait_for(lambda: sdk.load_balancer.get_load_balancer(lb["id"]).provisioning_status
                 == "ACTIVE", 240, "the load balancer ACTIVE", 0.2)
        active = time.monotonic() - t0
        wait_for(lambda: answers(client, lb["vip_address"]) == "ks-lb-web", 120,
                 "the web instance through the VIP", 0.2)
        proxied = time.monotonic() - t0
    except AssertionError:
        raise AssertionError(logs(state)) from None
    with capsys.disabled():
        print(f"\nkeystone: loadbalancer create -> ACTIVE {active:.2f} s, -> first proxied "
              f"request {proxied:.2f} s")
    shown = cli("loadbalancer", "show", lb["id"], "-f", "json")
    assert (shown["provisioning_status"], shown["operating_status"]) == ("ACTIVE", "ONLINE")
    appliances = {n for n in netns() if n.startswith("astara-appliance-") and haproxy_in(n)}
    assert len(appliances) == 1
    # The appliances are the service project's instances, not the member's.
    assert sorted(s["Name"] for s in cli("server", "list", "-f", "json")) == [
        "ks-lb-client", "ks-lb-web"]

    cli("loadbalancer", "delete", "--cascade", lb["id"])
    wait_for(lambda: not any(os.path.exists(f"/run/netns/{n}") for n in appliances), 120,
             "the load balancer's appliance gone", 0.5)
    wait_for(lambda: sdk.network.find_port(lb["vip_port_id"]) is None, 60,
             "the VIP port released after its appliance", 0.5)
    assert lb["id"] not in [x["id"] for x in cli("loadbalancer", "list", "-f", "json")]

    for vm in vms.values():
        cli("server", "delete", "--wait", vm["id"])
    cli("router", "remove", "subnet", "ks-lb-router", "ks-lb-sub")
    cli("router", "delete", "ks-lb-router")
    wait_for(lambda: not [n for n in netns() if n.startswith(("astara-appliance-",
                                                                 "astara-vm-"))], 180,
             "every appliance and instance namespace gone", 0.5)
