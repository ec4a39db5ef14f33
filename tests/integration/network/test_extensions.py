"""``GET /v2.0/extensions``: every listed alias is exercised here, and nothing is listed
that is not (a new alias needs its check in ``CHECKS``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.network.helpers import error, external_network, name, tenant_network


def _allowed_address_pairs(demo, other, admin):
    net, _ = tenant_network(demo, cidr="10.71.0.0/24")
    pairs = [{"ip_address": "10.71.0.200", "mac_address": "fa:16:3e:00:71:01"}]
    port = demo.sdk.network.create_port(network_id=net.id, allowed_address_pairs=pairs)
    assert demo.sdk.network.get_port(port.id).allowed_address_pairs == pairs


def _binding(demo, other, admin):
    net, _ = tenant_network(demo, cidr="10.72.0.0/24")
    port = demo.sdk.network.create_port(network_id=net.id)
    port = admin.sdk.network.update_port(port.id, binding_host_id="compute-1")
    assert port.binding_host_id == "compute-1"
    with demo.http() as c:
        r = c.put(f"/ports/{port.id}", json={"port": {"binding:host_id": "compute-2"}})
        assert r.status_code == 403


def _astara_port_bindings(demo, other, admin):
    # Admin only (tests/integration/network/test_port_bindings.py has the rest).
    net, _ = tenant_network(demo, cidr="10.79.0.0/24")
    ports = [demo.sdk.network.create_port(network_id=net.id) for _ in range(2)]
    body = {"bindings": [{"port_id": p.id, "host": "compute-1"} for p in ports]}
    with admin.http() as c:
        r = c.put("/astara_port_bindings", json=body)
        assert r.status_code == 200, r.text
        assert [p["binding:host_id"] for p in r.json()["ports"]] == ["compute-1"] * 2
    with demo.http() as c:
        assert c.put("/astara_port_bindings", json=body).status_code == 403


def _byonf(demo, other, admin):
    # Admin only (tests/integration/network/test_byonfs.py has the rest).
    body = {"byonf": {"tenant_id": demo.project, "function_type": "router",
                      "image_uuid": "5a1e0000-0000-4000-8000-0000000000a1"}}
    with admin.http() as c:
        entry = c.post("/byonfs", json=body).json()["byonf"]
        assert c.get("/byonfs", params={"tenant_id": demo.project}).json()["byonfs"] == [entry]
    with demo.http() as c:
        assert c.post("/byonfs", json=body).status_code == 403
        assert c.get(f"/byonfs/{entry['id']}").status_code == 404


def _external_net(demo, other, admin):
    ext, _ = external_network(admin, cidr="172.26.1.0/24", pool=("172.26.1.10", "172.26.1.99"))
    assert admin.sdk.network.get_network(ext.id).is_router_external is True
    assert ext.id in {n.id for n in other.sdk.network.networks(is_router_external=True)}


def _ext_gw_mode(demo, other, admin):
    ext, _ = external_network(admin, cidr="172.26.2.0/24", pool=("172.26.2.10", "172.26.2.99"))
    router = admin.sdk.network.create_router(external_gateway_info={
        "network_id": ext.id, "enable_snat": False})
    assert router.external_gateway_info["enable_snat"] is False


def _extraroute(demo, other, admin):
    _, sub = tenant_network(demo, cidr="10.73.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    routes = [{"destination": "192.168.73.0/24", "nexthop": "10.73.0.9"}]
    assert demo.sdk.network.update_router(router.id, routes=routes).routes == routes


def _fields(demo, other, admin):
    net = demo.sdk.network.create_network(name=name("f"))
    with demo.http() as c:
        body = c.get(f"/networks/{net.id}", params={"fields": ["id", "name"]}).json()
    assert body == {"network": {"id": net.id, "name": net.name}}


def _filter_validation(demo, other, admin):
    with demo.http() as c:
        r = c.get("/networks", params={"no_such_attribute": "x"})
    assert r.status_code == 400 and "no_such_attribute" in error(r)["message"]


def _l3_ha(demo, other, admin):
    # Neutron's default policy: `ha` is set and seen by an admin only
    router = admin.sdk.network.create_router(name=name("ha"), is_ha=True)
    assert admin.sdk.network.get_router(router.id).is_ha is True
    with demo.http() as c:
        r = c.post("/routers", json={"router": {"name": name("ha"), "ha": True}})
        assert r.status_code == 403
        mine = demo.sdk.network.create_router(name=name("ha"))
        assert "ha" not in c.get(f"/routers/{mine.id}").json()["router"]


def _net_mtu(demo, other, admin):
    net = demo.sdk.network.create_network(name=name("m"), mtu=1400)
    assert demo.sdk.network.get_network(net.id).mtu == 1400


def _pagination(demo, other, admin):
    ids = sorted(demo.sdk.network.create_network(name=name("pg")).id for _ in range(3))
    with demo.http() as c:
        r = c.get("/networks", params={"limit": 2, "project_id": demo.project})
        body = r.json()
        assert [n["id"] for n in body["networks"]] == ids[:2]
        base = f"{str(c.base_url).rstrip('/')}/networks?limit=2&project_id={demo.project}"
        # The first page, as Neutron gives it: next after the last, previous before the first.
        assert body["networks_links"] == [
            {"rel": "next", "href": f"{base}&marker={ids[1]}"},
            {"rel": "previous", "href": f"{base}&marker={ids[0]}&page_reverse=True"}]
        back = c.get(body["networks_links"][1]["href"]).json()
        assert back["networks"] == [] and [link["rel"] for link in back["networks_links"]] \
            == ["next"]
        last = c.get(body["networks_links"][0]["href"]).json()
        assert [n["id"] for n in last["networks"]] == ids[2:]
        assert [link["rel"] for link in last["networks_links"]] == ["previous"]


def _port_security(demo, other, admin):
    net, _ = tenant_network(demo, cidr="10.74.0.0/24")
    port = demo.sdk.network.create_port(network_id=net.id, is_port_security_enabled=False)
    assert demo.sdk.network.get_port(port.id).is_port_security_enabled is False


def _project_id(demo, other, admin):
    net = demo.sdk.network.create_network(name=name("p"))
    with demo.http() as c:
        body = c.get(f"/networks/{net.id}").json()["network"]
    assert body["project_id"] == body["tenant_id"] == demo.project


def _router(demo, other, admin):
    router = demo.sdk.network.create_router(name=name("r"))
    assert router.id in {r.id for r in demo.sdk.network.routers()}
    assert router.id not in {r.id for r in other.sdk.network.routers()}


def _sorting(demo, other, admin):
    names = [name("s") for _ in range(3)]
    for n in names:
        demo.sdk.network.create_network(name=n)
    with demo.http() as c:
        body = c.get("/networks", params={"project_id": demo.project, "sort_key": "name",
                                          "sort_dir": "desc"}).json()
    listed = [n["name"] for n in body["networks"] if n["name"] in names]
    assert listed == sorted(names, reverse=True)


def _description(demo, other, admin):
    net = demo.sdk.network.create_network(name=name("d"), description="for tests")
    assert demo.sdk.network.get_network(net.id).description == "for tests"


def _revisions(demo, other, admin):
    net = demo.sdk.network.create_network(name=name("v"))
    updated = demo.sdk.network.update_network(net.id, name=name("v2"))
    assert updated.revision_number > net.revision_number


def _timestamps(demo, other, admin):
    net = demo.sdk.network.create_network(name=name("t"))
    created = datetime.fromisoformat(net.created_at)
    assert net.updated_at and created.tzinfo is not None
    with demo.http() as c:
        def since(when: datetime) -> set[str]:
            r = c.get("/networks", params={"changed_since": when.isoformat(),
                                           "project_id": demo.project})
            assert r.status_code == 200, r.text
            return {n["id"] for n in r.json()["networks"]}
        assert net.id in since(created - timedelta(seconds=1))
        assert net.id not in since(datetime.now(UTC) + timedelta(minutes=5))
        r = c.get("/networks", params={"changed_since": "yesterday"})
        assert r.status_code == 400 and error(r)["type"] == "InvalidInput"


CHECKS: dict[str, Callable] = {
    "allowed-address-pairs": _allowed_address_pairs,
    "astara-port-bindings": _astara_port_bindings,
    "binding": _binding,
    "byonf": _byonf,
    "external-net": _external_net,
    "ext-gw-mode": _ext_gw_mode,
    "extraroute": _extraroute,
    "fields": _fields,
    "filter-validation": _filter_validation,
    "l3-ha": _l3_ha,
    "net-mtu": _net_mtu,
    "pagination": _pagination,
    "port-security": _port_security,
    "project-id": _project_id,
    "router": _router,
    "sorting": _sorting,
    "standard-attr-description": _description,
    "standard-attr-revisions": _revisions,
    "standard-attr-timestamp": _timestamps,
}


def listed(who) -> dict[str, dict]:
    with who.http() as c:
        r = c.get("/extensions")
    assert r.status_code == 200
    return {e["alias"]: e for e in r.json()["extensions"]}


def test_listed_extensions_are_exactly_the_checked_ones(demo):
    extensions = listed(demo)
    assert set(extensions) == set(CHECKS)
    for alias, ext in extensions.items():
        assert set(ext) == {"alias", "name", "description", "updated", "links"}, alias
    # Not honoured, so not advertised.
    assert not {"agent", "provider"} & set(extensions)
    # openstacksdk finds it by its alias, as Horizon does before offering `ha`
    assert demo.sdk.network.find_extension("l3-ha").name == "HA Router extension"


@pytest.mark.parametrize("alias", sorted(CHECKS))
def test_each_listed_extension_works(demo, other, admin, alias):
    CHECKS[alias](demo, other, admin)


def test_one_extension_by_alias(demo):
    with demo.http() as c:
        r = c.get("/extensions/extraroute")
        assert r.status_code == 200
        assert r.json()["extension"] == listed(demo)["extraroute"]
        r = c.get("/extensions/provider")
        assert r.status_code == 404
        err = error(r)
        assert err["type"] == "HTTPNotFound"
        assert err["message"] == "Extension with alias provider does not exist"
