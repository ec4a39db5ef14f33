"""The overlay's records on a real database (SQLite, or PostgreSQL with
``ASTARA_TEST_DATABASE_URL``): agents allocating VNIs at once agree and never share one;
peers come from live hosts' instances' ports (a JSON column)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from tests.integration.conftest import fresh_database

from astara.compute_service import catalog, jobs
from astara.compute_service.agent import vxlan
from astara.compute_service.agent.overlay import Overlay
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.models import Host, Instance, NetworkVni
from astara.db import migrate
from astara.db.engine import Database


@pytest.fixture
def db(tmp_path):
    database = Database(fresh_database(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def overlay(db, host: str) -> Overlay:
    return Overlay(db, FakeRunner(), host, "10.0.0.1", 60.0, "vxbrq")


def test_agents_allocating_at_once_agree_and_never_share_a_vni(db):
    nets = [str(uuid.uuid4()) for _ in range(6)]
    # a VNI another network already holds where the first network's search starts
    with db.write() as s:
        s.add(NetworkVni(network_id=str(uuid.uuid4()), vni=vxlan.vni_start(nets[0]),
                         created_at=jobs.now()))
    hosts = [overlay(db, f"h{i}") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda pair: (pair[1], pair[0].vni(pair[1])),
                            [(h, n) for h in hosts for n in nets]))
    by_net: dict[str, set[int]] = {}
    for net, vni in got:
        by_net.setdefault(net, set()).add(vni)
    assert all(len(v) == 1 for v in by_net.values()), by_net  # every host: the same
    vnis = [next(iter(v)) for v in by_net.values()]
    assert len(set(vnis)) == len(nets)  # no two networks share one
    assert vxlan.vni_start(nets[0]) not in vnis
    with db.read() as s:
        assert s.query(NetworkVni).count() == len(nets) + 1


def test_peers_from_live_hosts_ports(db):
    now = jobs.now()
    net, other = str(uuid.uuid4()), str(uuid.uuid4())
    with db.write() as s:
        for name, address, age in [("a", "10.0.0.1", 0), ("b", "10.0.0.2", 0),
                                   ("c", "2001:db8::3", 0), ("gone", "10.0.0.9", 3600)]:
            s.add(Host(name=name, tunnel_address=address,
                       updated_at=now - timedelta(seconds=age)))
        for i, (host, nets, deleted) in enumerate([("b", [net, other], False),
                                                   ("c", [net], False), ("c", [other], True),
                                                   ("gone", [net], False)]):
            s.add(Instance(id=str(uuid.uuid4()), project_id="p", name=f"i{i}", host=host,
                           flavor_id="f", image_id="i", created_at=now, updated_at=now,
                           deleted=deleted,
                           ports=[{"port_id": str(uuid.uuid4()), "net_id": n} for n in nets]))
    # c's tunnel is IPv6: the kernel refuses an IPv4 device a peer of the other family
    assert overlay(db, "a").peer_map() == {net: {"10.0.0.2"}, other: {"10.0.0.2"}}


def test_the_holder_is_a_peer_of_the_management_network_appliances_name(db):
    now = jobs.now()
    mgmt, tenants = str(uuid.uuid4()), str(uuid.uuid4())
    with db.write() as s:
        for name, address in [("a", "10.0.0.1"), ("b", "10.0.0.2"), ("c", "10.0.0.3")]:
            s.add(Host(name=name, tunnel_address=address, updated_at=now,
                       management_address="fdca::1" if name == "a" else None))  # claimed
        # b's appliance: management port first; c's tenant names its network like it
        for host, image, net in [("b", catalog.APPLIANCE_IMAGE, mgmt),
                                 ("c", catalog.TENANT_IMAGE, tenants)]:
            s.add(Instance(id=str(uuid.uuid4()), project_id="p", name=host, host=host,
                           flavor_id="f", image_id=image, created_at=now, updated_at=now,
                           ports=[{"port_id": str(uuid.uuid4()), "net_id": net,
                                   "network_name": "astara-mgmt",
                                   "management": image == catalog.APPLIANCE_IMAGE}]))

    def with_holder(host: str) -> Overlay:
        return Overlay(db, FakeRunner(), host, "10.0.0.9", 60.0, "vxbrq", ("a",))

    assert with_holder("a").management_networks() == {mgmt}
    # c has no appliance: the holder a is its management network's peer all the same
    assert with_holder("c").peer_map() == {mgmt: {"10.0.0.1", "10.0.0.2"}}
    assert with_holder("b").peer_map() == {mgmt: {"10.0.0.1"}, tenants: {"10.0.0.3"}}
    assert with_holder("a").peer_map() == {mgmt: {"10.0.0.2"}, tenants: {"10.0.0.3"}}
