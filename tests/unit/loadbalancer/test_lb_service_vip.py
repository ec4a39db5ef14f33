"""The VIP port's life through the service, with the in-tree ``FakeNetwork``: made as the
caller, deleted again when the load balancer's row cannot be written, deleted with the
load balancer only if we made it."""

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


@pytest.fixture
def world(tmp_path):
    db = Database(sqlite_url(tmp_path))
    migrate.upgrade(db.engine)
    net = FakeNetwork()
    service = LoadBalancerService(db, OutboxPublisher(), net, lb_defaults(defaults(tmp_path)))
    yield service, net
    db.dispose()


def test_the_port_is_made_as_the_caller_and_goes_with_the_load_balancer(world):
    service, net = world
    subnet = net.add_subnet("alice")
    lb = service.create_loadbalancer(ALICE, {"vip_subnet_id": subnet["id"]})
    assert net.calls == [("create_port", lb["vip_port_id"], "alice")]
    assert net.items["port"][lb["vip_port_id"]]["device_owner"] == "Octavia"
    service.delete_loadbalancer(ALICE, lb["id"], cascade=False)
    assert net.calls[-1] == ("delete_port", lb["vip_port_id"], "alice")
    assert lb["vip_port_id"] not in net.items["port"]


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
