"""Networks through openstacksdk: CRUD, admin-only attributes, scoping, list semantics."""

from __future__ import annotations

import openstack.exceptions as osexc
import pytest

from tests.integration.network.helpers import error, external_network, name


def test_network_lifecycle(demo):
    net = demo.sdk.network.create_network(name=name("net"), mtu=1400)
    assert net.status == "ACTIVE"
    assert net.project_id == demo.project
    assert net.mtu == 1400
    assert net.is_admin_state_up is True
    assert net.is_shared is False
    assert net.is_router_external is False
    assert demo.sdk.network.get_network(net.id).name == net.name

    revision = net.revision_number
    updated = demo.sdk.network.update_network(net.id, name="renamed", is_admin_state_up=False)
    assert updated.name == "renamed"
    assert updated.is_admin_state_up is False
    assert updated.revision_number == revision + 1

    demo.sdk.network.delete_network(net)
    with pytest.raises(osexc.NotFoundException):
        demo.sdk.network.get_network(net.id)


def test_members_cannot_create_external_or_shared_networks(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"name": "x", "router:external": True}})
        assert r.status_code == 403
        assert error(r)["type"] == "PolicyNotAuthorized"
        r = c.post("/networks", json={"network": {"name": "x", "shared": True}})
        assert r.status_code == 403


def test_provider_attributes_are_admin_only(admin, demo):
    net, _ = external_network(admin, cidr="172.30.1.0/24", pool=("172.30.1.10", "172.30.1.20"))
    with admin.http() as c:
        body = c.get(f"/networks/{net.id}").json()["network"]
    assert body["provider:network_type"] == "flat"
    with demo.http() as c:
        body = c.get(f"/networks/{net.id}").json()["network"]
    assert "provider:network_type" not in body
    assert body["router:external"] is True


def test_projects_see_only_their_networks_and_external_ones(admin, demo, other):
    mine = demo.sdk.network.create_network(name=name("mine"))
    theirs = other.sdk.network.create_network(name=name("theirs"))
    public, _ = external_network(admin, cidr="172.30.2.0/24", pool=("172.30.2.10", "172.30.2.20"))
    seen = {n.id for n in demo.sdk.network.networks()}
    assert mine.id in seen
    assert public.id in seen
    assert theirs.id not in seen
    with pytest.raises(osexc.NotFoundException):
        demo.sdk.network.get_network(theirs.id)
    with pytest.raises(osexc.NotFoundException):
        demo.sdk.network.update_network(theirs.id, name="stolen")
    with pytest.raises(osexc.NotFoundException):
        demo.sdk.network.delete_network(theirs.id, ignore_missing=False)
    # An external network is visible but not the member's to change.
    with pytest.raises(osexc.ForbiddenException):
        demo.sdk.network.update_network(public.id, name="mine-now")
    assert {n.id for n in admin.sdk.network.networks()} >= {mine.id, theirs.id, public.id}


def test_filters_fields_sorting(demo):
    names = [name(f"f{i}") for i in range(3)]
    nets = [demo.sdk.network.create_network(name=n, is_admin_state_up=(i != 1))
            for i, n in enumerate(names)]
    found = list(demo.sdk.network.networks(name=names[0]))
    assert [n.id for n in found] == [nets[0].id]
    with demo.http() as c:
        r = c.get("/networks", params=[("name", names[0]), ("name", names[2])])
        assert sorted(n["id"] for n in r.json()["networks"]) == sorted([nets[0].id, nets[2].id])
        r = c.get("/networks", params={"admin_state_up": "false", "project_id": demo.project})
        assert [n["id"] for n in r.json()["networks"]] == [nets[1].id]
        r = c.get("/networks", params=[("fields", "id"), ("fields", "name"),
                                       ("project_id", demo.project)])
        assert all(set(n) == {"id", "name"} for n in r.json()["networks"])
        r = c.get("/networks", params={"sort_key": "name", "sort_dir": "desc",
                                       "project_id": demo.project})
        assert [n["name"] for n in r.json()["networks"]] == sorted(names, reverse=True)
        r = c.get("/networks", params={"bogus": "1"})
        assert r.status_code == 400
        assert "bogus" in error(r)["message"]
        r = c.get("/networks", params={"sort_key": "bogus"})
        assert r.status_code == 400


def test_pagination_with_links_and_marker(demo):
    created = sorted(demo.sdk.network.create_network(name=name("pg")).id for _ in range(5))
    with demo.http() as c:
        r = c.get("/networks", params={"limit": 2, "project_id": demo.project})
        body = r.json()
        assert [n["id"] for n in body["networks"]] == created[:2]
        nxt = [link for link in body["networks_links"] if link["rel"] == "next"]
        assert nxt and f"marker={created[1]}" in nxt[0]["href"]
        r = c.get("/networks", params={"limit": 2, "marker": created[3],
                                       "project_id": demo.project})
        body = r.json()
        assert [n["id"] for n in body["networks"]] == created[4:]
        assert not [link for link in body["networks_links"] if link["rel"] == "next"]
    # openstacksdk follows the next links itself.
    listed = [n.id for n in demo.sdk.network.networks(limit=2, project_id=demo.project)]
    assert listed == created
