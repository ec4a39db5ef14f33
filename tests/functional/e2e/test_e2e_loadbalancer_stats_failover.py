"""A load balancer's statistics and failover end to end, as root, on a real all-in-one
stack, through openstacksdk:

one instance answering HTTP behind a load balancer, a client instance on the same
network. Requests through the VIP raise the load balancer's and the listener's byte and
connection totals (haproxy's counters, carried by the orchestrator's status reports);
an admin's failover replaces the appliance with a new instance (a new namespace) that
serves the same VIP, the load balancer goes ACTIVE again, and the totals do not go
backwards although the new haproxy counts from 0.
"""

from __future__ import annotations

import openstack
from keystoneauth1 import noauth, session
from tests.functional.e2e.e2e_helpers import answers, haproxy_in, netns
from tests.functional.e2e.test_e2e_loadbalancer import (
    lb_connection,
    pytestmark,  # noqa: F401  (root, the binaries: as its sibling)
)
from tests.support import wait_for

from astara.burnin.scenario import Options, connection

PROJECT = "e2e-lbstats"


def admin_lbs(url: str):
    headers = {"X-Project-Id": "e2e-admin", "X-User-Id": "e2e-admin",
               "X-Roles": "admin,member,reader"}
    sess = session.Session(auth=noauth.NoAuth(), additional_headers=headers)
    return openstack.connection.Connection(session=sess, region_name="RegionOne",
                                           load_balancer_endpoint_override=url).load_balancer


def lb_appliances() -> set[str]:
    return {n for n in netns() if n.startswith("astara-appliance-") and haproxy_in(n)}


def totals(lbs, lb_id: str, listener_id: str) -> tuple[dict, dict]:
    keys = ("bytes_in", "bytes_out", "total_connections", "active_connections",
            "request_errors")
    lb = lbs.get_load_balancer_statistics(lb_id)
    listener = lbs.get_listener_statistics(listener_id)
    return ({k: getattr(lb, k) for k in keys}, {k: getattr(listener, k) for k in keys})


def test_stats_rise_with_traffic_and_a_failover_gives_a_new_appliance(aio):
    ports, _state = aio
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    lb_url = f"http://127.0.0.1:{ports['lb']}/"
    user = connection(o, PROJECT, False)
    lbs = lb_connection(lb_url, PROJECT).load_balancer
    net = user.network.create_network(name="e2e-lbs-net")
    sub = user.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.78.0.0/24")
    router = user.network.create_router(name="e2e-lbs-router")
    user.network.add_interface_to_router(router, subnet_id=sub.id)
    vms = [user.compute.create_server(name=f"e2e-lbs-{n}", image_id="astara-tenant",
                                      flavor_id="1", networks=[{"uuid": net.id}])
           for n in ("web1", "client")]
    for vm in vms:
        wait_for(lambda vm=vm: user.compute.get_server(vm.id).status == "ACTIVE", 120,
                 f"{vm.name} ACTIVE", 0.2)
    web = next(p.fixed_ips[0]["ip_address"] for p in user.network.ports(device_id=vms[0].id))
    client = f"astara-vm-{vms[1].id}"
    wait_for(lambda: answers(client, web), 120, "web1 from the client", 0.2)

    lb = lbs.create_load_balancer(name="e2e-lbs", vip_subnet_id=sub.id)
    listener = lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    pool = lbs.create_pool(listener_id=listener.id, protocol="HTTP",
                           lb_algorithm="ROUND_ROBIN")
    lbs.create_member(pool, address=web, protocol_port=80)
    wait_for(lambda: lbs.get_load_balancer(lb.id).provisioning_status == "ACTIVE", 120,
             "the load balancer ACTIVE", 0.2)
    wait_for(lambda: answers(client, lb.vip_address) == "e2e-lbs-web1", 60,
             "web1 through the VIP", 0.1)

    # Traffic through the VIP: the totals rise (within a health check, 10 s here).
    before, _ = totals(lbs, lb.id, listener.id)
    requests = 20
    for _ in range(requests):
        assert answers(client, lb.vip_address) == "e2e-lbs-web1"
    wait_for(lambda: totals(lbs, lb.id, listener.id)[0]["total_connections"]
             >= before["total_connections"] + requests, 60,
             f"{requests} more connections in the load balancer's stats", 0.5)
    counted, of_listener = totals(lbs, lb.id, listener.id)
    assert counted["bytes_in"] > before["bytes_in"]
    assert counted["bytes_out"] > before["bytes_out"] + requests * len("e2e-lbs-web1")
    assert of_listener == counted  # its one listener's
    print(f"stats after {requests} requests: {counted}")

    # Failover (an admin's): a new appliance on the same VIP, ACTIVE again.
    old = lb_appliances()
    assert len(old) == 1
    admin = admin_lbs(lb_url)
    admin.failover_load_balancer(lb.id)
    assert lbs.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"
    wait_for(lambda: not (lb_appliances() & old) and len(lb_appliances()) == 1, 120,
             "the old appliance replaced by a new one", 0.2)
    wait_for(lambda: lbs.get_load_balancer(lb.id).provisioning_status == "ACTIVE", 120,
             "the load balancer ACTIVE after its failover", 0.2)
    wait_for(lambda: answers(client, lb.vip_address) == "e2e-lbs-web1", 60,
             "the VIP answering again", 0.1)
    assert lbs.get_load_balancer(lb.id).vip_address == lb.vip_address

    # The new haproxy counts from 0; the totals shown go on from where they were.
    after_failover, _ = totals(lbs, lb.id, listener.id)
    assert after_failover["total_connections"] >= counted["total_connections"]
    for _ in range(5):
        assert answers(client, lb.vip_address) == "e2e-lbs-web1"
    wait_for(lambda: totals(lbs, lb.id, listener.id)[0]["total_connections"]
             >= counted["total_connections"] + 5, 60,
             "the new appliance's connections added to the totals", 0.5)

    lbs.delete_load_balancer(lb.id, cascade=True)
    for vm in vms:
        user.compute.delete_server(vm.id)
    user.network.remove_interface_from_router(router, subnet_id=sub.id)
    user.network.delete_router(router)
    wait_for(lambda: not [n for n in netns() if n.startswith(("astara-appliance-",
                                                                 "astara-vm-"))], 120,
             "every appliance and instance namespace gone", 0.2)
