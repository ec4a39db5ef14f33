"""The VIP port's life through the service, with the in-tree ``FakeNetwork``: made as the
caller, deleted again when the load balancer's row cannot be written; one we made kept
after the load balancer's delete until the orchestrator releases it (its appliance gone),
retried until it goes; a user's port left to them."""

from __future__ import annotations

import pytest

from astara.bus.outbox import OutboxPublisher
from astara.common.settings import defaults, sqlite_url
from astara.db import migrate
from astara.db.engine import Database
from astara.loadbalancer_service import errors
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.network import FakeNetwork
from astara.loadbalancer_service.service import LoadBalancerService
from astara.loadbalancer_service.settings import defaults as lb_defaults

ALICE = RequestContext(project_id="alice", roles=("member",))
BOSS = RequestContext(project_id="ops", roles=("admin",))


@pytest.fixture
def world(tmp_path):
    db = Database(sqlite_url(tmp_path))
    migrate.upgrade(db.engine)
    net = FakeNetwork()
    service = LoadBalancerService(db, OutboxPublisher(), net, lb_defaults(defaults(tmp_path)))
    yield service, net
    db.dispose()


def test_the_port_is_made_as_the_caller_and_kept_until_the_orchestrator_releases_it(world):
    service, net = world
    subnet = net.add_subnet("alice")
    lb = service.create_loadbalancer(ALICE, {"vip_subnet_id": subnet["id"]})
    port_id = lb["vip_port_id"]
    assert net.calls == [("create_port", port_id, "alice")]
    assert net.items["port"][port_id]["device_owner"] == "Octavia"
    with pytest.raises(errors.Conflict, match="still exists"):  # its appliance serves it
        service.release_vip_ports(BOSS, lb["id"])
    service.delete_loadbalancer(ALICE, lb["id"], cascade=False)
    # The appliance may still answer on the address: the port keeps it from others.
    assert port_id in net.items["port"] and net.calls[-1][0] == "create_port"
    assert service.vip_ports(BOSS) == [{"port_id": port_id, "loadbalancer_id": lb["id"],
                                        "project_id": "alice"}]
    for who in (ALICE, RequestContext(project_id="alice", roles=("reader",))):
        with pytest.raises(errors.Forbidden):
            service.release_vip_ports(who, lb["id"])
        with pytest.raises(errors.Forbidden):
            service.vip_ports(who)
    service.release_vip_ports(BOSS, lb["id"])  # the orchestrator: its appliance is gone
    assert port_id not in net.items["port"] and service.vip_ports(BOSS) == []
    service.release_vip_ports(BOSS, lb["id"])  # again, or for an unknown id: nothing to do
    assert [c[0] for c in net.calls].count("delete_port") == 1


def test_a_port_whose_deletion_fails_stays_recorded_and_is_retried(world, monkeypatch):
    service, net = world
    subnet = net.add_subnet("alice")
    lb = service.create_loadbalancer(ALICE, {"vip_subnet_id": subnet["id"]})
    service.delete_loadbalancer(ALICE, lb["id"], cascade=False)
    real = net.delete_port

    def refuse(caller, port_id):
        raise RuntimeError("409 Port in use")

    monkeypatch.setattr(net, "delete_port", refuse)
    with pytest.raises(errors.Conflict, match="retry it"):
        service.release_vip_ports(BOSS, lb["id"])
    assert [p["port_id"] for p in service.vip_ports(BOSS)] == [lb["vip_port_id"]]
    monkeypatch.setattr(net, "delete_port", real)
    service.release_vip_ports(BOSS, lb["id"])
    assert lb["vip_port_id"] not in net.items["port"] and service.vip_ports(BOSS) == []


def test_a_port_made_for_a_refused_write_is_deleted_again(world, monkeypatch):
    service, net = world
    subnet = net.add_subnet("alice")
    service.set_quota(RequestContext(project_id="x", roles=("admin",)), "alice",
                      {"loadbalancer": 0})
    # As if another request took the last place between the early check and the write.
    monkeypatch.setattr(service, "_quota_early", lambda s, project_id: None)
    with pytest.raises(errors.Forbidden, match="Quota has been met"):
        service.create_loadbalancer(ALICE, {"vip_subnet_id": subnet["id"]})
    assert [c[0] for c in net.calls] == ["create_port", "delete_port"]
    assert net.items["port"] == {}


def test_a_users_port_stays_and_serves_one_load_balancer(world):
    service, net = world
    subnet = net.add_subnet("alice")
    port = net.create_port(ALICE, {"network_id": subnet["network_id"]})
    lb = service.create_loadbalancer(ALICE, {"vip_port_id": port["id"]})
    assert lb["vip_address"] == port["fixed_ips"][0]["ip_address"]
    with pytest.raises(errors.Conflict, match="already the VIP"):
        service.create_loadbalancer(ALICE, {"vip_port_id": port["id"]})
    service.delete_loadbalancer(ALICE, lb["id"], cascade=False)
    assert port["id"] in net.items["port"]


def test_another_projects_subnet_or_port_is_not_found(world):
    service, net = world
    theirs = net.add_subnet("bob")
    with pytest.raises(errors.BadRequest, match=f"Subnet {theirs['id']} not found"):
        service.create_loadbalancer(ALICE, {"vip_subnet_id": theirs["id"]})
    shared = net.add_subnet("bob", cidr_prefix="10.9.0", shared=True)
    lb = service.create_loadbalancer(ALICE, {"vip_network_id": shared["network_id"]})
    assert lb["vip_subnet_id"] == shared["id"]
    assert net.items["port"][lb["vip_port_id"]]["project_id"] == "alice"
