"""Notifications: what our network service emits matches a real Neutron 29.

The user actions behind the captures in ``tests/data/neutron/notifications``
(copied from a real neutron-server) are replayed through openstacksdk; the
messages read back from the outbox must have the same event types, in the same
order, with the same payload keys. Also: a failed write emits nothing, and a
consumer is woken by a commit rather than by polling.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from astara.bus.outbox import OutboxConsumer, OutboxRow
from astara.bus.wakeup import WakeupDir
from astara.db.engine import Database
from tests.integration.network.helpers import name

IDLE = 5.0  # how long an idle consumer's wait() may sleep between looks

CAPTURES = Path(__file__).parents[2] / "data" / "neutron" / "notifications"
# Keys Neutron's *.delete.end payloads carry straight from its DB layer (dicts made
# without the API's field policy): internal ids, drivers' extras, admin-only fields.
DB_ONLY_ON_DELETE = {
    "standard_attr_id", "qinq", "vlan_transparent", "segment_id", "shared",
    "binding:host_id", "binding:profile", "binding:vif_details", "binding:vif_type",
    "provider:network_type", "provider:physical_network", "provider:segmentation_id",
}


def captured() -> list[dict]:
    return [json.loads(p.read_text())["message"] for p in sorted(CAPTURES.glob("[0-9]*.json"))]


@pytest.fixture
def outbox(network_settings):
    db = Database(network_settings.database.url)
    consumer = OutboxConsumer(db, name(f"test-{id(db)}"),
                              wakeup=WakeupDir(network_settings.bus.wakeup_dir), max_idle_wait=IDLE)
    with db.read() as s:
        last = s.scalar(select(func.max(OutboxRow.id))) or 0
    consumer.ack(last)
    yield consumer
    consumer.close()
    db.dispose()


def drain(consumer: OutboxConsumer) -> list[dict]:
    out = []
    while batch := consumer.fetch(500):
        out.extend(m.body for m in batch)
        consumer.ack(batch[-1].position)
    return out


def replay(admin, demo) -> None:
    """The client steps that produced the captures, in order."""
    net_a, net_d = admin.sdk.network, demo.sdk.network
    public = net_a.create_network(name="public", is_router_external=True, is_shared=False,
                                  provider_network_type="flat",
                                  provider_physical_network="public")
    public_sub = net_a.create_subnet(
        network_id=public.id, name="public-subnet", cidr="172.24.4.0/24", ip_version=4,
        gateway_ip="172.24.4.1", is_dhcp_enabled=False,
        allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.200"}])
    private = net_d.create_network(name="private")
    private_sub = net_d.create_subnet(network_id=private.id, name="private-subnet",
                                      cidr="10.0.0.0/24", ip_version=4, gateway_ip="10.0.0.1",
                                      dns_nameservers=["192.0.2.53"])
    router = net_d.create_router(name="router1",
                                 external_gateway_info={"network_id": public.id})
    net_d.add_interface_to_router(router, subnet_id=private_sub.id)
    vm = net_d.create_port(network_id=private.id, name="vm-port", device_owner="compute:nova",
                           device_id="11111111-2222-3333-4444-555555555555",
                           fixed_ips=[{"subnet_id": private_sub.id}])
    fip = net_d.create_ip(floating_network_id=public.id)
    net_d.update_ip(fip, port_id=vm.id)
    net_d.update_router(router, name="router1-renamed",
                        routes=[{"destination": "192.168.100.0/24", "nexthop": "10.0.0.50"}])
    net_d.update_router(router, is_admin_state_up=False)
    net_d.update_router(router, routes=[], is_admin_state_up=True)
    net_d.update_port(vm, name="vm-port-renamed")
    net_d.update_subnet(private_sub, dns_nameservers=["192.0.2.54"])
    net_d.update_network(private, name="private-renamed")
    net_d.update_ip(fip, port_id=None)
    net_d.delete_ip(fip)
    net_d.delete_port(vm)
    net_d.remove_interface_from_router(router, subnet_id=private_sub.id)
    net_d.update_router(router, external_gateway_info={})
    net_d.delete_router(router)
    net_d.delete_subnet(private_sub)
    net_d.delete_network(private)
    net_a.delete_subnet(public_sub)
    net_a.delete_network(public)


def test_replayed_actions_emit_what_neutron_emits(admin, demo, outbox):
    replay(admin, demo)
    ours = drain(outbox)
    theirs = captured()
    assert [m["event_type"] for m in ours] == [m["event_type"] for m in theirs]
    for mine, real in zip(ours, theirs, strict=True):
        event = real["event_type"]
        assert set(mine) == set(real), event
        assert mine["priority"] == "INFO"
        assert mine["publisher_id"].startswith("network.")
        assert mine["_context_project_id"] in (admin.project, demo.project)
        assert set(mine["payload"]) == set(real["payload"]), event
        if event.endswith(".start"):
            continue
        for key, value in real["payload"].items():
            if not isinstance(value, dict):
                continue
            missing = set(value) - set(mine["payload"][key])
            extra = set(mine["payload"][key]) - set(value)
            assert not extra, (event, extra)
            allowed = DB_ONLY_ON_DELETE if event.endswith(".delete.end") else set()
            assert missing <= allowed, (event, missing, mine["payload"][key].get("name"))


def test_router_interface_payload_values(demo, outbox):
    net = demo.sdk.network.create_network(name=name("n"))
    sub = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.40.0.0/24", ip_version=4)
    router = demo.sdk.network.create_router(name=name("r"))
    info = demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    [msg] = [m for m in drain(outbox) if m["event_type"] == "router.interface.create"]
    assert msg["payload"]["router_interface"] == {
        "id": router.id, "project_id": demo.project, "port_id": info["port_id"],
        "network_id": net.id, "subnet_id": sub.id, "subnet_ids": [sub.id]}
    assert msg["_context_roles"] == ["member", "reader"]
    assert "_context_tenant_id" not in msg


def test_rejected_write_emits_nothing(demo, outbox):
    with demo.http() as c:
        r = c.post("/subnets", json={"subnet": {"network_id": "00000000-0000-0000-0000-"
                                                "000000000000", "cidr": "10.0.0.0/24",
                                                "ip_version": 4}})
    assert r.status_code == 404
    assert drain(outbox) == []


def test_consumer_is_woken_by_a_commit(demo, outbox):
    woke = []
    waiting = threading.Event()

    def wait():
        waiting.set()
        woke.append(outbox.wait(60))

    t = threading.Thread(target=wait)
    t.start()
    waiting.wait()
    demo.sdk.network.create_network(name=name("wake"))
    t.join(60)
    assert woke == [True]
    assert [m["event_type"] for m in drain(outbox)] == ["network.create.start",
                                                        "network.create.end"]


def test_a_port_added_by_port_id_is_announced_as_updated(demo, outbox):
    """The port loses its port security when it becomes an interface: consumers (the
    orchestrator, the compute host's anti-spoofing) hear of it as of any port update."""
    net = demo.sdk.network.create_network(name=name("n"))
    sub = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.41.0.0/24", ip_version=4)
    router = demo.sdk.network.create_router(name=name("r"))
    port = demo.sdk.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": sub.id}])
    drain(outbox)
    demo.sdk.network.add_interface_to_router(router, port_id=port.id)
    events = drain(outbox)
    assert [m["event_type"] for m in events if m["event_type"].endswith(".end")
            or m["event_type"].startswith("router.interface")] == [
        "port.update.end", "router.interface.create"]
    payload = events[[m["event_type"] for m in events].index("port.update.end")]["payload"]
    assert (payload["port"]["id"], payload["port"]["device_id"],
            payload["port"]["port_security_enabled"]) == (port.id, router.id, False)


def test_ports_given_an_auto_address_by_a_new_subnet_are_announced(demo, outbox):
    """An auto-address IPv6 subnet created later adds an address to the network's ports:
    each is a port update consumers hear of, as when deleting the subnet takes it back."""
    net = demo.sdk.network.create_network(name=name("n"))
    v4 = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.42.0.0/24", ip_version=4)
    port = demo.sdk.network.create_port(network_id=net.id, mac_address="fa:16:3e:00:42:01",
                                        fixed_ips=[{"subnet_id": v4.id}])
    drain(outbox)

    def updates() -> list[dict]:
        return [m["payload"]["port"] for m in drain(outbox)
                if m["event_type"] == "port.update.end"]

    slaac = demo.sdk.network.create_subnet(network_id=net.id, cidr="2001:db8:42::/64",
                                           ip_version=6, ipv6_ra_mode="slaac",
                                           ipv6_address_mode="slaac")
    [added] = updates()
    assert (added["id"], added["fixed_ips"]) == (port.id, [
        {"subnet_id": v4.id, "ip_address": port.fixed_ips[0]["ip_address"]},
        {"subnet_id": slaac.id, "ip_address": "2001:db8:42:0:f816:3eff:fe00:4201"}])
    demo.sdk.network.delete_subnet(slaac)
    [dropped] = updates()
    assert (dropped["id"], [f["subnet_id"] for f in dropped["fixed_ips"]]) == (port.id, [v4.id])
