"""The network API's tenant-isolation matrix: project B against project A's resources.

Two member projects A and B and an admin. For every resource type (networks,
subnets, ports, routers, floating IPs) B tries show / update / delete / list /
filters / markers on A's resources, and every cross-project reference the API
takes (subnets and ports on A's network, ports labelled as A's router interface,
interfaces between A's and B's routers, gateways on A's network, floating IPs on
A's port, ...). Each cell is one test: B is refused the way Neutron refuses it (404
for what B cannot see, 403 ``PolicyNotAuthorized`` or 409 where Neutron says so), and
a snapshot of A's resources taken by the admin, A's router's ``astara_model``
included, is the same after the attempt as before.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.conftest import Identity
from tests.integration.network.helpers import error, name

INTERFACE = "network:router_interface"


@dataclass
class World:
    a: httpx.Client
    b: httpx.Client
    admin: httpx.Client
    a_project: str
    b_project: str
    ext: dict
    shared: dict
    a_net: dict
    a_sub: dict
    a_router: dict
    a_iface: dict  # the port of A's router interface on A's subnet
    a_port: dict  # an instance port of A's, with A's floating IP on it
    a_fip: dict
    b_net: dict
    b_sub: dict
    b_router: dict
    b_port: dict
    b_fip: dict

    def close(self) -> None:
        for c in (self.a, self.b, self.admin):
            c.close()

    def a_of(self, plural: str) -> dict:
        return {"networks": self.a_net, "subnets": self.a_sub, "ports": self.a_port,
                "routers": self.a_router, "floatingips": self.a_fip}[plural]

    def a_ids(self) -> set[str]:
        return {self.a_net["id"], self.a_sub["id"], self.a_port["id"], self.a_iface["id"],
                self.a_router["id"], self.a_fip["id"]}


def _ok(r: httpx.Response, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def _post(c: httpx.Client, plural: str, body: dict) -> dict:
    singular = plural[:-1]
    return _ok(c.post(f"/{plural}", json={singular: body}))[singular]


def build_world(network_api) -> World:
    demo, other = Identity(network_api, uuid.uuid4().hex), Identity(network_api, uuid.uuid4().hex)
    admin = Identity(network_api, uuid.uuid4().hex, admin=True)
    a, b, adm = demo.http(), other.http(), admin.http()
    ext = _post(adm, "networks", {"name": name("public"), "router:external": True})
    _post(adm, "subnets", {"network_id": ext["id"], "cidr": "172.24.4.0/24", "ip_version": 4,
                           "enable_dhcp": False})
    shared = _post(adm, "networks", {"name": name("shared"), "shared": True})
    _post(adm, "subnets", {"network_id": shared["id"], "cidr": "10.90.0.0/24",
                           "ip_version": 4})
    a_net = _post(a, "networks", {"name": name("a-net")})
    a_sub = _post(a, "subnets", {"network_id": a_net["id"], "cidr": "10.1.0.0/24",
                                 "ip_version": 4, "name": name("a-sub")})
    a_router = _post(a, "routers", {"name": name("a-router"),
                                    "external_gateway_info": {"network_id": ext["id"]}})
    info = _ok(a.put(f"/routers/{a_router['id']}/add_router_interface",
                     json={"subnet_id": a_sub["id"]}), 200)
    a_iface = _ok(a.get(f"/ports/{info['port_id']}"), 200)["port"]
    a_port = _post(a, "ports", {"network_id": a_net["id"], "name": name("a-port"),
                                "device_owner": "compute:nova", "device_id": name("a-vm")})
    a_fip = _post(a, "floatingips", {"floating_network_id": ext["id"],
                                     "port_id": a_port["id"]})
    b_net = _post(b, "networks", {"name": name("b-net")})
    b_sub = _post(b, "subnets", {"network_id": b_net["id"], "cidr": "10.2.0.0/24",
                                 "ip_version": 4})
    b_router = _post(b, "routers", {"name": name("b-router"),
                                    "external_gateway_info": {"network_id": ext["id"]}})
    b_port = _post(b, "ports", {"network_id": b_net["id"], "name": name("b-port")})
    b_fip = _post(b, "floatingips", {"floating_network_id": ext["id"]})
    return World(a, b, adm, demo.project, other.project, ext, shared, a_net, a_sub, a_router,
                 a_iface, a_port, a_fip, b_net, b_sub, b_router, b_port, b_fip)


@pytest.fixture(scope="module")
def world(network_api):
    """One world for the matrix: every cell is refused, so it stays A's as built (each
    cell still compares A's snapshot before and after its own attempt)."""
    w = build_world(network_api)
    yield w
    w.close()


def snapshot(w: World) -> dict:
    """A's resources as the admin and as A see them, and A's router's model."""
    out: dict = {}
    for plural, row in (("networks", w.a_net), ("subnets", w.a_sub), ("ports", w.a_port),
                        ("ports", w.a_iface), ("routers", w.a_router),
                        ("floatingips", w.a_fip)):
        out[row["id"]] = _ok(w.admin.get(f"/{plural}/{row['id']}"), 200)
    out["model"] = _ok(w.admin.get(f"/routers/{w.a_router['id']}/astara_model"), 200)
    out["ports on A's network"] = sorted(
        p["id"] for p in _ok(w.admin.get("/ports", params={"network_id": w.a_net["id"]}),
                             200)["ports"])
    for plural in ("networks", "subnets", "ports", "routers", "floatingips"):
        out[f"A lists {plural}"] = _ok(w.a.get(f"/{plural}"), 200)
    return out


def refused(r: httpx.Response, status: int, type_: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = error(r)
    if type_ is not None:
        assert err["type"] == type_, err
    return err


def no_a_items(w: World, r: httpx.Response, plural: str) -> None:
    assert r.status_code == 200, r.text
    items = r.json()[plural]
    assert not [it for it in items if it.get("id") in w.a_ids()
                or it.get("project_id") == w.a_project], items
    text = json.dumps(items)
    assert w.a_project not in text
    assert not [i for i in w.a_ids() if i in text]


NOT_FOUND = {"networks": "NetworkNotFound", "subnets": "SubnetNotFound",
             "ports": "PortNotFound", "routers": "RouterNotFound",
             "floatingips": "FloatingIPNotFound"}
PLURALS = tuple(NOT_FOUND)
UPDATES = {"networks": {"name": "taken"}, "subnets": {"name": "taken"},
           "ports": {"name": "taken", "device_owner": "compute:nova"},
           "routers": {"name": "taken", "admin_state_up": False},
           "floatingips": {"port_id": None}}

Cell = Callable[[World], None]
CELLS: list = []


def cell(id_: str):
    def register(fn: Cell) -> Cell:
        CELLS.append(pytest.param(fn, id=id_))
        return fn
    return register


# --- show / update / delete / list / filters / markers, per resource type -------------

def _show(plural: str) -> Cell:
    def run(w: World) -> None:
        refused(w.b.get(f"/{plural}/{w.a_of(plural)['id']}"), 404, NOT_FOUND[plural])
    return run


def _update(plural: str) -> Cell:
    def run(w: World) -> None:
        r = w.b.put(f"/{plural}/{w.a_of(plural)['id']}", json={plural[:-1]: UPDATES[plural]})
        refused(r, 404, NOT_FOUND[plural])
    return run


def _delete(plural: str) -> Cell:
    def run(w: World) -> None:
        refused(w.b.delete(f"/{plural}/{w.a_of(plural)['id']}"), 404, NOT_FOUND[plural])
    return run


def _list(plural: str, params: Callable[[World], dict]) -> Cell:
    def run(w: World) -> None:
        no_a_items(w, w.b.get(f"/{plural}", params=params(w)), plural)
    return run


def _marker(plural: str) -> Cell:
    def run(w: World) -> None:
        r = w.b.get(f"/{plural}", params={"marker": w.a_of(plural)["id"], "limit": 50})
        refused(r, 404, "NotFound")
    return run


FILTERS: dict[str, dict[str, Callable[[World], dict]]] = {
    plural: {
        "project_id": lambda w: {"project_id": w.a_project},
        "tenant_id": lambda w: {"tenant_id": w.a_project},
        "id": lambda w, p=plural: {"id": w.a_of(p)["id"]},
    } for plural in PLURALS
}
for _plural in ("networks", "subnets", "ports", "routers"):
    FILTERS[_plural]["name"] = lambda w, p=_plural: {"name": w.a_of(p)["name"]}
FILTERS["subnets"].update({
    "network_id": lambda w: {"network_id": w.a_net["id"]},
    "cidr": lambda w: {"cidr": w.a_sub["cidr"]},
})
FILTERS["ports"].update({
    "device_id=A's router": lambda w: {"device_id": w.a_router["id"]},
    "network_id": lambda w: {"network_id": w.a_net["id"]},
    "device_owner=router_interface": lambda w: {"device_owner": INTERFACE},
    "fixed_ips=subnet_id": lambda w: {"fixed_ips": f"subnet_id={w.a_sub['id']}"},
    "fixed_ips=ip_address": lambda w: {
        "fixed_ips": f"ip_address={w.a_port['fixed_ips'][0]['ip_address']}"},
    "mac_address": lambda w: {"mac_address": w.a_port["mac_address"]},
})
FILTERS["floatingips"].update({
    "router_id": lambda w: {"router_id": w.a_router["id"]},
    "port_id": lambda w: {"port_id": w.a_port["id"]},
    "floating_ip_address": lambda w: {"floating_ip_address": w.a_fip["floating_ip_address"]},
})

for _plural in PLURALS:
    cell(f"{_plural}-show")(_show(_plural))
    cell(f"{_plural}-update")(_update(_plural))
    cell(f"{_plural}-delete")(_delete(_plural))
    cell(f"{_plural}-list")(_list(_plural, lambda w: {}))
    for _key, _params in FILTERS[_plural].items():
        cell(f"{_plural}-filter-{_key}")(_list(_plural, _params))
    cell(f"{_plural}-marker")(_marker(_plural))


@cell("ports-show-A's-router-interface")
def _(w: World) -> None:
    refused(w.b.get(f"/ports/{w.a_iface['id']}"), 404, "PortNotFound")


@cell("ports-delete-A's-router-interface")
def _(w: World) -> None:
    refused(w.b.delete(f"/ports/{w.a_iface['id']}"), 404, "PortNotFound")


@cell("routers-astara_model-of-A's-router")
def _(w: World) -> None:
    refused(w.b.get(f"/routers/{w.a_router['id']}/astara_model"), 403, "PolicyNotAuthorized")


# --- cross-project references: subnets and ports ---------------------------------------

@cell("subnet-on-A's-network")
def _(w: World) -> None:
    r = w.b.post("/subnets", json={"subnet": {"network_id": w.a_net["id"],
                                              "cidr": "10.1.1.0/24", "ip_version": 4}})
    # As Neutron: a network B cannot see is not found (403 would tell it exists).
    refused(r, 404, "NetworkNotFound")


@cell("port-on-A's-network")
def _(w: World) -> None:
    refused(w.b.post("/ports", json={"port": {"network_id": w.a_net["id"]}}), 404,
            "NetworkNotFound")


@cell("port-on-A's-network-with-A's-address")
def _(w: World) -> None:
    r = w.b.post("/ports", json={"port": {"network_id": w.a_net["id"], "fixed_ips": [
        {"subnet_id": w.a_sub["id"], "ip_address": "10.1.0.77"}]}})
    refused(r, 404, "NetworkNotFound")


@cell("port-on-B's-network-with-A's-subnet")
def _(w: World) -> None:
    r = w.b.post("/ports", json={"port": {"network_id": w.b_net["id"],
                                          "fixed_ips": [{"subnet_id": w.a_sub["id"]}]}})
    # As Neutron: a subnet B cannot see is not found (its network's id is not told).
    refused(r, 404, "SubnetNotFound")


@cell("port-on-external-network")
def _(w: World) -> None:
    refused(w.b.post("/ports", json={"port": {"network_id": w.ext["id"]}}), 404,
            "NetworkNotFound")


def _forge(network: str, owner: str, status: int, type_: str, fixed: bool = False) -> Cell:
    """B creates a port labelled as one of A's router's ports."""
    def run(w: World) -> None:
        body = {"network_id": getattr(w, network)["id"], "device_owner": owner,
                "device_id": w.a_router["id"]}
        if fixed:
            body["fixed_ips"] = [{"subnet_id": w.b_sub["id"], "ip_address": "10.2.0.1"}]
        refused(w.b.post("/ports", json={"port": body}), status, type_)
    return run


FORGERIES = [
    ("b_net", INTERFACE, 409, "DeviceIDNotOwnedByTenant", False),
    ("b_net", INTERFACE, 409, "DeviceIDNotOwnedByTenant", True),
    ("b_net", "network:ha_router_replicated_interface", 409, "DeviceIDNotOwnedByTenant",
     False),
    ("b_net", "network:router_interface_distributed", 409, "DeviceIDNotOwnedByTenant", False),
    ("b_net", "network:router_gateway", 403, "PolicyNotAuthorized", False),
    ("b_net", "network:floatingip", 403, "PolicyNotAuthorized", False),
    ("b_net", "network:astara_management", 403, "PolicyNotAuthorized", False),
    ("b_net", "network:router_ha_interface", 403, "PolicyNotAuthorized", False),
    ("shared", INTERFACE, 403, "PolicyNotAuthorized", False),
    ("shared", "network:dhcp", 403, "PolicyNotAuthorized", False),
    ("ext", INTERFACE, 404, "NetworkNotFound", False),
    ("ext", "network:router_gateway", 404, "NetworkNotFound", False),
    ("ext", "network:floatingip", 404, "NetworkNotFound", False),
    ("a_net", INTERFACE, 404, "NetworkNotFound", False),
]
for _net, _owner, _status, _type, _fixed in FORGERIES:
    _suffix = "-with-gateway-ip" if _fixed else ""
    cell(f"port-{_owner.removeprefix('network:')}-of-A's-router-on-{_net}{_suffix}")(
        _forge(_net, _owner, _status, _type, _fixed))


@cell("bulk-ports-one-forged-as-A's-interface")
def _(w: World) -> None:
    r = w.b.post("/ports", json={"ports": [
        {"network_id": w.b_net["id"], "name": "innocent"},
        {"network_id": w.b_net["id"], "device_owner": INTERFACE,
         "device_id": w.a_router["id"]}]})
    refused(r, 409, "DeviceIDNotOwnedByTenant")
    names = [p["name"] for p in _ok(w.b.get("/ports"), 200)["ports"]]
    assert "innocent" not in names


@cell("port-labelled-with-A's-router-as-device-only")
def _(w: World) -> None:
    # Neutron lets a port's owner write any device_id; it must stay a label.
    r = w.b.post("/ports", json={"port": {"network_id": w.b_net["id"],
                                          "device_owner": "compute:nova",
                                          "device_id": w.a_router["id"]}})
    _ok(r)


@cell("admin-labels-a-port-as-A's-interface")
def _(w: World) -> None:
    # Even an admin's label does not make an interface: only add_router_interface does.
    r = w.admin.post("/ports", json={"port": {"network_id": w.b_net["id"],
                                              "device_owner": INTERFACE,
                                              "device_id": w.a_router["id"]}})
    _ok(r)


def _update_into(owner: str, status: int, type_: str, start: dict | None = None) -> Cell:
    """B moves B's own port into A's router by updating its labels."""
    def run(w: World) -> None:
        port = w.b_port
        if start is not None:
            port = _post(w.b, "ports", {"network_id": w.b_net["id"], **start(w)})
        body = {"device_owner": owner, "device_id": w.a_router["id"]}
        r = w.b.put(f"/ports/{port['id']}", json={"port": body})
        refused(r, status, type_)
    return run


cell("port-update-into-A's-router-as-interface")(
    _update_into(INTERFACE, 409, "DeviceIDNotOwnedByTenant"))
cell("port-update-into-A's-router-as-gateway")(
    _update_into("network:router_gateway", 403, "PolicyNotAuthorized"))
cell("port-update-into-A's-router-as-management")(
    _update_into("network:astara_management", 403, "PolicyNotAuthorized"))
cell("port-update-into-A's-router-as-floatingip")(
    _update_into("network:floatingip", 403, "PolicyNotAuthorized"))


@cell("port-update-device_id-only-to-A's-router")
def _(w: World) -> None:
    port = _post(w.b, "ports", {"network_id": w.b_net["id"], "device_owner": INTERFACE,
                                "device_id": w.b_router["id"]})
    r = w.b.put(f"/ports/{port['id']}", json={"port": {"device_id": w.a_router["id"]}})
    refused(r, 409, "DeviceIDNotOwnedByTenant")


@cell("port-update-device_owner-only-on-port-naming-A's-router")
def _(w: World) -> None:
    port = _post(w.b, "ports", {"network_id": w.b_net["id"], "device_owner": "compute:nova",
                                "device_id": w.a_router["id"]})
    r = w.b.put(f"/ports/{port['id']}", json={"port": {"device_owner": INTERFACE}})
    refused(r, 409, "DeviceIDNotOwnedByTenant")


# --- cross-project references: router interfaces and gateways --------------------------

def _iface(router: str, action: str, body: Callable[[World], dict], status: int,
           type_: str) -> Cell:
    def run(w: World) -> None:
        r = w.b.put(f"/routers/{getattr(w, router)['id']}/{action}", json=body(w))
        refused(r, status, type_)
    return run


INTERFACE_CELLS = [
    ("add-B's-subnet-to-A's-router", "a_router", "add_router_interface",
     lambda w: {"subnet_id": w.b_sub["id"]}, 404, "RouterNotFound"),
    ("add-B's-port-to-A's-router", "a_router", "add_router_interface",
     lambda w: {"port_id": w.b_port["id"]}, 404, "RouterNotFound"),
    ("remove-A's-subnet-from-A's-router", "a_router", "remove_router_interface",
     lambda w: {"subnet_id": w.a_sub["id"]}, 404, "RouterNotFound"),
    ("remove-A's-interface-port-from-A's-router", "a_router", "remove_router_interface",
     lambda w: {"port_id": w.a_iface["id"]}, 404, "RouterNotFound"),
    ("add-A's-subnet-to-B's-router", "b_router", "add_router_interface",
     lambda w: {"subnet_id": w.a_sub["id"]}, 404, "SubnetNotFound"),
    ("add-A's-port-to-B's-router", "b_router", "add_router_interface",
     lambda w: {"port_id": w.a_port["id"]}, 404, "PortNotFound"),
    ("add-A's-interface-port-to-B's-router", "b_router", "add_router_interface",
     lambda w: {"port_id": w.a_iface["id"]}, 404, "PortNotFound"),
    ("remove-A's-subnet-from-B's-router", "b_router", "remove_router_interface",
     lambda w: {"subnet_id": w.a_sub["id"]}, 404, "SubnetNotFound"),
    ("remove-A's-interface-port-from-B's-router", "b_router", "remove_router_interface",
     lambda w: {"port_id": w.a_iface["id"]}, 404, "RouterInterfaceNotFound"),
]
for _id, _router, _action, _body, _status, _type in INTERFACE_CELLS:
    cell(f"router-{_id}")(_iface(_router, _action, _body, _status, _type))


@cell("router-create-with-gateway-on-A's-network")
def _(w: World) -> None:
    r = w.b.post("/routers", json={"router": {"external_gateway_info": {
        "network_id": w.a_net["id"]}}})
    refused(r, 404, "NetworkNotFound")


@cell("router-update-gateway-to-A's-network")
def _(w: World) -> None:
    r = w.b.put(f"/routers/{w.b_router['id']}", json={"router": {"external_gateway_info": {
        "network_id": w.a_net["id"]}}})
    refused(r, 404, "NetworkNotFound")


@cell("router-gateway-on-A's-gateway-address")
def _(w: World) -> None:
    taken = w.a_router["external_gateway_info"]["external_fixed_ips"][0]
    r = w.b.put(f"/routers/{w.b_router['id']}", json={"router": {"external_gateway_info": {
        "network_id": w.ext["id"], "external_fixed_ips": [taken]}}})
    refused(r, 403, "PolicyNotAuthorized")


@cell("router-extra-route-via-A's-address")
def _(w: World) -> None:
    r = w.b.put(f"/routers/{w.b_router['id']}", json={"router": {"routes": [
        {"destination": "192.168.7.0/24",
         "nexthop": w.a_port["fixed_ips"][0]["ip_address"]}]}})
    refused(r, 400)


# --- cross-project references: floating IPs ---------------------------------------------

@cell("floatingip-create-on-A's-port")
def _(w: World) -> None:
    r = w.b.post("/floatingips", json={"floatingip": {"floating_network_id": w.ext["id"],
                                                      "port_id": w.a_port["id"]}})
    refused(r, 404, "PortNotFound")


@cell("floatingip-associate-B's-to-A's-port")
def _(w: World) -> None:
    r = w.b.put(f"/floatingips/{w.b_fip['id']}",
                json={"floatingip": {"port_id": w.a_port["id"]}})
    refused(r, 404, "PortNotFound")


@cell("floatingip-associate-B's-to-A's-router-interface")
def _(w: World) -> None:
    r = w.b.put(f"/floatingips/{w.b_fip['id']}",
                json={"floatingip": {"port_id": w.a_iface["id"]}})
    refused(r, 404, "PortNotFound")


@cell("floatingip-create-on-A's-network")
def _(w: World) -> None:
    r = w.b.post("/floatingips", json={"floatingip": {"floating_network_id": w.a_net["id"]}})
    refused(r, 404, "NetworkNotFound")


@cell("floatingip-take-A's-address")
def _(w: World) -> None:
    r = w.b.post("/floatingips", json={"floatingip": {
        "floating_network_id": w.ext["id"],
        "floating_ip_address": w.a_fip["floating_ip_address"]}})
    refused(r, 403, "PolicyNotAuthorized")


@cell("floatingip-delete-A's-floating-port")
def _(w: World) -> None:
    model = _ok(w.admin.get(f"/floatingips/{w.a_fip['id']}"), 200)["floatingip"]
    ports = _ok(w.admin.get("/ports", params={
        "fixed_ips": f"ip_address={model['floating_ip_address']}",
        "network_id": w.ext["id"]}), 200)["ports"]
    [port] = ports
    refused(w.b.delete(f"/ports/{port['id']}"), 404, "PortNotFound")


@pytest.mark.parametrize("attempt", CELLS)
def test_b_cannot_touch_a(world: World, attempt: Cell) -> None:
    before = snapshot(world)
    attempt(world)
    assert snapshot(world) == before


def test_forged_interface_does_not_keep_a_router(network_api) -> None:
    """The last cell: whatever B labels, A can still take its router down."""
    w = build_world(network_api)
    try:
        w.b.post("/ports", json={"port": {
            "network_id": w.b_net["id"], "device_owner": INTERFACE,
            "device_id": w.a_router["id"], "fixed_ips": [{"subnet_id": w.b_sub["id"]}]}})
        _ok(w.a.put(f"/floatingips/{w.a_fip['id']}", json={"floatingip": {"port_id": None}}),
            200)
        _ok(w.a.put(f"/routers/{w.a_router['id']}/remove_router_interface",
                    json={"subnet_id": w.a_sub["id"]}), 200)
        r = w.a.delete(f"/routers/{w.a_router['id']}")
        assert r.status_code == 204, r.text
        refused(w.admin.get(f"/routers/{w.a_router['id']}"), 404, "RouterNotFound")
    finally:
        w.close()


# --- B on a network of A's that an admin shared: the port attributes that pick addresses --

@dataclass
class SharedOfA:
    w: World
    net: dict  # A's network, shared by an admin
    port: dict  # A's instance port on it


@pytest.fixture(scope="module")
def a_shared(world: World) -> SharedOfA:
    net = _post(world.admin, "networks", {"name": name("a-shared"), "shared": True,
                                          "project_id": world.a_project})
    _post(world.a, "subnets", {"network_id": net["id"], "cidr": "10.91.0.0/24",
                               "ip_version": 4})
    port = _post(world.a, "ports", {"network_id": net["id"], "device_owner": "compute:nova",
                                    "device_id": name("a-vm")})
    return SharedOfA(world, net, port)


def shared_snapshot(s: SharedOfA) -> dict:
    return {"as admin": _ok(s.w.admin.get(f"/ports/{s.port['id']}"), 200),
            "as A": _ok(s.w.a.get(f"/ports/{s.port['id']}"), 200),
            "network": _ok(s.w.admin.get(f"/networks/{s.net['id']}"), 200),
            "A's ports on it": _ok(s.w.admin.get("/ports", params={
                "network_id": s.net["id"], "project_id": s.w.a_project}), 200)}


def _a_address(s: SharedOfA) -> str:
    return s.port["fixed_ips"][0]["ip_address"]


def _b_port(s: SharedOfA) -> dict:
    """A port B may make on A's shared network: only the network, and a subnet."""
    return _post(s.w.b, "ports", {"network_id": s.net["id"], "fixed_ips": [
        {"subnet_id": s.port["fixed_ips"][0]["subnet_id"]}]})


SHARED_CELLS: dict[str, tuple[str, Callable[[SharedOfA], dict]]] = {
    "create-with-A's-address-as-allowed-pair": ("create_port:allowed_address_pairs", lambda s: {
        "allowed_address_pairs": [{"ip_address": _a_address(s),
                                   "mac_address": s.port["mac_address"]}]}),
    "create-without-port-security": ("create_port:port_security_enabled",
                                     lambda s: {"port_security_enabled": False}),
    "create-with-A's-address-as-fixed-ip": ("create_port:fixed_ips:ip_address", lambda s: {
        "fixed_ips": [{"ip_address": _a_address(s)}]}),
    "create-with-a-free-address-as-fixed-ip": ("create_port:fixed_ips:ip_address", lambda s: {
        "fixed_ips": [{"ip_address": "10.91.0.200"}]}),
    "create-with-A's-mac": ("create_port:mac_address",
                            lambda s: {"mac_address": s.port["mac_address"]}),
    "update-to-A's-address-as-allowed-pair": ("update_port:allowed_address_pairs", lambda s: {
        "allowed_address_pairs": [{"ip_address": _a_address(s),
                                   "mac_address": s.port["mac_address"]}]}),
    "update-port-security-off": ("update_port:port_security_enabled",
                                 lambda s: {"port_security_enabled": False}),
    "update-to-A's-address-as-fixed-ip": ("update_port:fixed_ips:ip_address", lambda s: {
        "fixed_ips": [{"ip_address": _a_address(s)}]}),
    "update-mac-address": ("update_port:mac_address",
                           lambda s: {"mac_address": "fa:16:3e:12:34:56"}),
}


@pytest.mark.parametrize("cell_id", list(SHARED_CELLS))
def test_b_cannot_pick_addresses_on_a_shared_network(a_shared: SharedOfA, cell_id: str) -> None:
    rule, body = SHARED_CELLS[cell_id]
    before = shared_snapshot(a_shared)
    b = a_shared.w.b
    if cell_id.startswith("create"):
        r = b.post("/ports", json={"port": {"network_id": a_shared.net["id"], **body(a_shared)}})
    else:
        port = _b_port(a_shared)
        r = b.put(f"/ports/{port['id']}", json={"port": body(a_shared)})
        unchanged = _ok(b.get(f"/ports/{port['id']}"), 200)["port"]
        assert unchanged["mac_address"] == port["mac_address"]
        assert unchanged["fixed_ips"] == port["fixed_ips"]
        assert unchanged["allowed_address_pairs"] == [] and unchanged["port_security_enabled"]
    err = refused(r, 403, "PolicyNotAuthorized")
    assert err["message"] == f"(rule:{rule}) is disallowed by policy."
    assert shared_snapshot(a_shared) == before


def test_b_may_ask_for_a_subnet_on_a_shared_network(a_shared: SharedOfA) -> None:
    """Control: naming only a subnet is allowed to anyone, as in Neutron."""
    port = _b_port(a_shared)
    assert port["fixed_ips"][0]["ip_address"] != _a_address(a_shared)
    assert port["allowed_address_pairs"] == [] and port["port_security_enabled"]


def test_members_do_not_choose_ids(world: World) -> None:
    """As Neutron, an id in a POST is refused (a chosen id would probe others' ids)."""
    for c in (world.b, world.admin):
        r = c.post("/ports", json={"port": {"network_id": world.b_net["id"],
                                            "id": str(uuid.uuid4())}})
        assert refused(r, 400, "HTTPBadRequest")["message"] == \
            "Attribute 'id' not allowed in POST"


def test_matrix_size() -> None:
    """docs/security.md counts the cells (the forged-interface test is one more)."""
    assert (len(CELLS), len(SHARED_CELLS)) == (105, 9)
