"""Nova's ``os-server-groups`` through openstacksdk: the API (project-scoped, quotas,
microversions) and ``scheduler_hints: {group}`` honoured by placement on a one-host
and a two-host cloud (a second agent with the in-tree fake backend)."""

from __future__ import annotations

import re
import threading
import uuid

import httpx
import pytest
from tests.support import wait_for

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.common.device_owners import MGMT_OWNER
from astara.compute_service import jobs
from astara.compute_service.agent.backend import FakeBackend
from astara.compute_service.agent.worker import Agent
from astara.compute_service.api import placement
from astara.orchestrator.clients.compute import HttpComputeAPI
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.drivers.router import NAMING
from conftest import User

TENANT = "astara-tenant"


def boot(user: User, name: str, group_id: str):
    server = user.sdk.compute.create_server(name=name, image_id=TENANT, flavor_id="1",
                                            networks="none",
                                            scheduler_hints={"group": group_id})
    return server


def settle(user: User, server_id: str):
    return wait_for(lambda: (s := user.sdk.compute.get_server(server_id)).status in
                    ("ACTIVE", "ERROR") and s, 20, f"{server_id} ACTIVE or ERROR", 0.05)


def http(user: User, version: str) -> httpx.Client:
    return httpx.Client(base_url=f"{user.compute.api.url}/v2.1", timeout=30,
                        headers={**user.headers, "OpenStack-API-Version": f"compute {version}"})


def fresh(compute, network_api) -> User:
    return User(compute, network_api.url, uuid.uuid4().hex)


def test_server_groups_are_project_scoped_with_nova_bodies_and_quota(user, other_user,
                                                                     admin_user):
    group = user.sdk.compute.create_server_group(name="pair", policy="soft-anti-affinity")
    assert group.policy == "soft-anti-affinity" and group.member_ids == []
    assert group.project_id == user.project
    assert [g.id for g in user.sdk.compute.server_groups()] == [group.id]
    assert user.sdk.compute.get_server_group(group.id).name == "pair"
    assert group.id not in {g.id for g in other_user.sdk.compute.server_groups()}
    with http(user, "2.1") as c:
        body = c.get(f"/os-server-groups/{group.id}").json()["server_group"]
        assert body["policies"] == ["soft-anti-affinity"] and "policy" not in body
        assert c.post("/os-server-groups", json={"server_group": {
            "name": "x", "policies": ["soft-anti-affinity"]}}).status_code == 400  # < 2.15
    with http(other_user, "2.64") as c:
        r = c.get(f"/os-server-groups/{group.id}")
        assert r.status_code == 404
        assert r.json()["itemNotFound"]["message"] == \
            f"Instance group {group.id} could not be found."
        assert c.delete(f"/os-server-groups/{group.id}").status_code == 404
        r = c.post("/servers", json={
            "server": {"name": "x", "imageRef": TENANT, "flavorRef": "1", "networks": "none"},
            "os:scheduler_hints": {"group": group.id}})
        assert r.status_code == 400  # another project's group is none of its own
    with http(admin_user, "2.64") as c:
        every = c.get("/os-server-groups", params={"all_projects": "True"}).json()
        assert group.id in {g["id"] for g in every["server_groups"]}
    with http(user, "2.64") as c:
        for i in range(9):
            assert c.post("/os-server-groups", json={"server_group": {
                "name": f"g{i}", "policy": "anti-affinity",
                "rules": {"max_server_per_host": 2}}}).status_code == 200
        r = c.post("/os-server-groups", json={"server_group": {"name": "g10",
                                                                 "policy": "affinity"}})
        assert r.status_code == 403
        assert r.json()["forbidden"]["message"] == "Quota exceeded, too many server groups."
    user.sdk.compute.delete_server_group(group.id)
    assert group.id not in {g.id for g in user.sdk.compute.server_groups()}


@pytest.fixture
def one_host(compute):
    """The session's own host alone takes instances (another test's hosts drained for
    the while)."""
    with compute.db.write() as s:
        others = [h["name"] for h in placement.host_list(s)
                  if h["name"] != compute.settings.host and not h["drained"]]
        for name in others:
            placement.set_drained(s, name, True)
    yield compute.settings.host
    with compute.db.write() as s:
        for name in others:
            placement.set_drained(s, name, False)


def test_one_host_soft_anti_affinity_places_both_hard_refuses_the_second(compute,
                                                                         network_api,
                                                                         one_host):
    user = fresh(compute, network_api)
    soft = user.sdk.compute.create_server_group(name="soft", policy="soft-anti-affinity")
    a, b = (settle(user, boot(user, n, soft.id).id) for n in ("a", "b"))
    assert (a.status, b.status) == ("ACTIVE", "ACTIVE") and a.host_id == b.host_id
    assert sorted(user.sdk.compute.get_server_group(soft.id).member_ids) == sorted([a.id, b.id])
    with http(user, "2.71") as c:
        assert c.get(f"/servers/{a.id}").json()["server"]["server_groups"] == [soft.id]
    for s in (a, b):
        user.sdk.compute.delete_server(s.id)
    for s in (a, b):
        wait_for(lambda s=s: user.sdk.compute.find_server(s.id) is None, 20, "deleted", 0.05)
    assert user.sdk.compute.get_server_group(soft.id).member_ids == []  # gone with them
    hard = user.sdk.compute.create_server_group(name="hard", policy="anti-affinity")
    first = settle(user, boot(user, "c", hard.id).id)
    second = settle(user, boot(user, "d", hard.id).id)
    assert first.status == "ACTIVE" and second.status == "ERROR"
    assert second.fault["message"].startswith("No valid host was found.")


@pytest.fixture
def second_host(compute, network_settings):
    """Another live compute host (its own agent thread); drained afterwards so that no
    later test is placed there."""
    wake = WakeupDir(network_settings.bus.wakeup_dir)
    jobs_wake = WakeupDir(jobs.wakeup_dir(network_settings.bus.wakeup_dir))
    agent = Agent(compute.db, FakeBackend(), "astara-test-host-2", OutboxPublisher(wake),
                  jobs_wake, idle_wait=1.0)
    agent.register()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop.is_set,), daemon=True)
    thread.start()
    yield "astara-test-host-2"
    with compute.db.write() as s:
        placement.set_drained(s, "astara-test-host-2", True)
    stop.set()
    jobs_wake.notify()
    thread.join(10)


def test_two_hosts_each_policy(compute, network_api, second_host):
    user = fresh(compute, network_api)
    seen = {}
    for policy in ("soft-anti-affinity", "anti-affinity", "affinity", "soft-affinity"):
        group = user.sdk.compute.create_server_group(name=policy, policy=policy)
        pair = [settle(user, boot(user, f"{policy}-{n}", group.id).id) for n in (1, 2)]
        assert [s.status for s in pair] == ["ACTIVE", "ACTIVE"], policy
        seen[policy] = pair[0].host_id != pair[1].host_id
        for s in pair:
            user.sdk.compute.delete_server(s.id)
        for s in pair:
            wait_for(lambda s=s: user.sdk.compute.find_server(s.id) is None, 20, "deleted",
                     0.05)
    assert seen == {"soft-anti-affinity": True, "anti-affinity": True, "affinity": False,
                    "soft-affinity": False}


def test_a_project_of_unlimited_instances_has_unlimited_groups(compute, network_api):
    service = User(compute, network_api.url, "astara-service")  # -1 by default
    made = [service.sdk.compute.create_server_group(name=f"astara-ha-{i}",
                                                    policy="soft-anti-affinity")
            for i in range(11)]
    try:
        assert len({g.id for g in made}) == 11
    finally:
        for g in made:
            service.sdk.compute.delete_server_group(g.id)


def test_the_orchestrators_clients_find_the_pairs_group_and_a_left_member(admin_user, compute,
                                                                          network_api):
    """What ``Executor`` and ``Reconciler.sweep_member1`` ask of the real APIs."""
    rid = str(uuid.uuid4())
    mid = router_ha.member_id(rid)
    nova = HttpComputeAPI(f"{compute.api.url}/", admin_user.headers, TENANT, "1")
    name = router_ha.group_name(rid)
    assert nova.server_group(name, create=False) is None
    gid, members = nova.server_group(name, create=True)
    assert members == () and nova.server_group(name, create=True) == (gid, ())  # found
    net = admin_user.sdk.network.create_network(name="sg-net")
    admin_user.sdk.network.create_subnet(network_id=net.id, ip_version=4,
                                         cidr="10.77.0.0/24")
    network = HttpNetworkAPI(network_api.url, net.id, admin_user.headers)  # our mgmt net
    mgmt = admin_user.sdk.network.create_port(network_id=net.id, device_id=mid,
                                              device_owner=MGMT_OWNER)
    plain = admin_user.sdk.network.create_port(network_id=net.id)
    server_id = nova.boot(NAMING.identity(mid), [plain.id], f"req-{rid}", group=gid)
    try:
        assert nova.server_group(name, create=False) == (gid, (server_id,))
        assert nova.named(f"^ak-.*{re.escape(router_ha.SUFFIX)}$",
                          NAMING.metadata_key)[mid] == [server_id]
        assert mid in network.management_device_ids()
    finally:
        nova.delete(server_id)
        admin_user.sdk.network.delete_port(mgmt.id)
    nova.delete_server_group(name)
    assert nova.server_group(name, create=False) is None
    nova.delete_server_group(name)  # none: no error
