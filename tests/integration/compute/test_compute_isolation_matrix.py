"""The compute API's isolation matrix: member project B against member project A.

A owns a network, an ACTIVE server with a port and metadata, a free port and a
deleted server; B owns a network, an ACTIVE server booted with one of B's ports, a
free port, a router port and a port whose device_id B pointed at A's server; an
admin owns the external network and made B a port on it. Every cell is one request
B makes (show, update, delete, actions, interfaces and metadata of A's server; lists
with A's filters and markers; boots and attaches that reference A's network or ports,
the external network, or ports in use) and must be refused as Nova refuses it (404
for what B cannot see, 400 on a server create, 403 for policy, 409 for a port in
use), with A's server, ports and metadata, B's ports and servers and the external
network's ports exactly as they were. ``CELLS`` is the matrix; a few controls at the
end show the same requests work for those allowed to make them.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.support import wait_for

from astara.compute_service import catalog
from astara.compute_service.models import Job

TENANT = catalog.TENANT_IMAGE


def _headers(project: str, admin: bool = False) -> dict[str, str]:
    return {"X-Project-Id": project, "X-User-Id": f"user-{project[:8]}",
            "X-Roles": "admin,member,reader" if admin else "member,reader"}


@dataclass
class World:
    compute_url: str
    network_url: str
    db: Any
    a: str = field(default_factory=lambda: uuid.uuid4().hex)
    b: str = field(default_factory=lambda: uuid.uuid4().hex)
    admin: str = field(default_factory=lambda: uuid.uuid4().hex)
    ids: dict[str, str] = field(default_factory=dict)
    since: str = ""
    before: dict = field(default_factory=dict)
    dirty: bool = False
    clients: dict[tuple[str, str], httpx.Client] = field(default_factory=dict)

    # clients (one each, kept: an httpx client costs ~0.15 s to make) -------------------
    def _client(self, api: str, who: str) -> contextlib.nullcontext[httpx.Client]:
        if (api, who) not in self.clients:
            project = {"a": self.a, "b": self.b, "admin": self.admin}[who]
            url = self.compute_url + "/v2.1" if api == "nova" else self.network_url + "/v2.0"
            self.clients[api, who] = httpx.Client(
                base_url=url, headers=_headers(project, who == "admin"), timeout=30)
        return contextlib.nullcontext(self.clients[api, who])

    def nova(self, who: str) -> contextlib.nullcontext[httpx.Client]:
        return self._client("nova", who)

    def neutron(self, who: str) -> contextlib.nullcontext[httpx.Client]:
        return self._client("neutron", who)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    # building ----------------------------------------------------------------------
    def _post(self, client: httpx.Client, path: str, body: dict) -> dict:
        r = client.post(path, json=body)
        assert r.status_code in (200, 201, 202), (path, r.status_code, r.text)
        return r.json()

    def _network(self, who: str, name: str, cidr: str, **extra) -> str:
        with self.neutron(who) as c:
            net = self._post(c, "/networks", {"network": {"name": name, **extra}})["network"]
            subnet = self._post(c, "/subnets", {"subnet": {
                "network_id": net["id"], "ip_version": 4, "cidr": cidr}})["subnet"]
        self.ids[f"{name}_subnet"] = subnet["id"]
        return net["id"]

    def _port(self, who: str, net_id: str, **extra) -> str:
        with self.neutron(who) as c:
            return self._post(c, "/ports", {"port": {"network_id": net_id, **extra}})[
                "port"]["id"]

    def _server(self, who: str, name: str, networks: Any) -> str:
        with self.nova(who) as c:
            sid = self._post(c, "/servers", {"server": {
                "name": name, "imageRef": TENANT, "flavorRef": "1",
                "networks": networks}})["server"]["id"]
            wait_for(lambda: c.get(f"/servers/{sid}").json()["server"]["status"] == "ACTIVE",
                     timeout=20, what=f"{name} ACTIVE")
        return sid

    def build(self) -> World:
        i = self.ids
        self.since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        i["a_project"], i["b_project"] = self.a, self.b
        i["a_net"] = self._network("a", "a-net", "10.71.0.0/24")
        i["b_net"] = self._network("b", "b-net", "10.72.0.0/24")
        i["ext"] = self._network("admin", "public", "192.0.2.0/24", **{"router:external": True})
        i["a_name"] = f"a-secret-{uuid.uuid4().hex[:8]}"
        i["a_srv"] = self._server("a", i["a_name"], [{"uuid": i["a_net"]}])
        with self.nova("a") as c:
            r = c.put(f"/servers/{i['a_srv']}/metadata", json={"metadata": {"owner": "a"}})
            assert r.status_code == 200, r.text
            i["a_bound"] = c.get(f"/servers/{i['a_srv']}/os-interface").json()[
                "interfaceAttachments"][0]["port_id"]
        i["a_free"] = self._port("a", i["a_net"])
        i["a_gone"] = self._server("a", "a-gone", [])
        with self.nova("a") as c:
            assert c.delete(f"/servers/{i['a_gone']}").status_code == 204
            wait_for(lambda: c.get(f"/servers/{i['a_gone']}").status_code == 404,
                     timeout=20, what="a-gone deleted")
        i["b_given"] = self._port("b", i["b_net"])
        i["b_srv"] = self._server("b", "b-own", [{"port": i["b_given"]}])
        i["b_free"] = self._port("b", i["b_net"])
        i["b_tampered"] = self._port("b", i["b_net"], device_id=i["a_srv"])
        with self.neutron("b") as c:
            router = self._post(c, "/routers", {"router": {"name": "b-router"}})["router"]
            r = c.put(f"/routers/{router['id']}/add_router_interface",
                      json={"subnet_id": self.ids["b-net_subnet"]})
            assert r.status_code == 200, r.text
            i["b_router_port"] = r.json()["port_id"]
        i["b_ext_port"] = self._port("admin", i["ext"], project_id=self.b)
        self.before = self.snapshot()
        return self

    # what must not change ----------------------------------------------------------
    def snapshot(self) -> dict:
        i = self.ids
        out: dict[str, Any] = {}
        with self.nova("a") as c:
            server = c.get(f"/servers/{i['a_srv']}").json()["server"]
            out["a_server"] = {k: server[k] for k in ("name", "status", "metadata", "addresses",
                                                     "OS-EXT-STS:task_state", "updated")}
            out["a_interfaces"] = c.get(f"/servers/{i['a_srv']}/os-interface").json()
        with self.nova("admin") as c:
            for who in ("a", "b"):
                project = getattr(self, who)
                found = c.get("/servers/detail", params={"all_tenants": "1",
                                                         "project_id": project}).json()
                out[f"{who}_servers"] = sorted((s["id"], s["status"], s["name"])
                                               for s in found["servers"])
        with self.neutron("admin") as c:
            for net in ("a_net", "b_net", "ext"):
                found = c.get("/ports", params={"network_id": i[net]}).json()["ports"]
                out[f"{net}_ports"] = sorted(
                    (p["id"], p["project_id"], p["device_id"], p["device_owner"],
                     p["binding:host_id"], str(p["fixed_ips"])) for p in found)
        with self.db.read() as s:
            out["a_jobs"] = sorted(s.scalars(select(Job.op).where(
                Job.instance_id.in_([i["a_srv"], i["a_gone"]]))))
        return out

    def assert_intact(self) -> None:
        after = self.snapshot()
        changed = {k: (self.before[k], after[k]) for k in after if after[k] != self.before[k]}
        if changed:
            self.dirty = True
        assert not changed, f"the cell changed {changed}"


class Worlds:
    """One world per module, built again after a cell that changed it (a failing cell
    must not make the cells after it fail too)."""

    def __init__(self, compute, network_api):
        self.compute, self.network_api = compute, network_api
        self.world: World | None = None

    def current(self) -> World:
        if self.world is None or self.world.dirty:
            self.close()
            self.world = World(self.compute.api.url, self.network_api.url,
                               self.compute.db).build()
        return self.world

    def close(self) -> None:
        if self.world is not None:
            self.world.close()


@pytest.fixture(scope="module")
def worlds(compute, network_api):
    made = Worlds(compute, network_api)
    yield made
    made.close()


@pytest.fixture
def world(worlds):
    return worlds.current()


# The matrix -------------------------------------------------------------------------
NOT_A_SRV = (404, "itemNotFound", "Instance {a_srv} could not be found.")
SERVER_CREATE = "POST /servers"


def boot(*networks: dict) -> dict:
    return {"server": {"name": "b-evil", "imageRef": TENANT, "flavorRef": "1",
                       "networks": list(networks)}}


def attach(**att: str) -> dict:
    return {"interfaceAttachment": att}


@dataclass(frozen=True)
class Cell:
    method: str
    path: str
    body: Any = None
    refusal: tuple[int, str, str] | None = None  # status, fault name, message
    hidden: tuple[str, ...] = ()  # a list answer (200) must not name these
    shows_b: bool = True  # ... and names B's own server (the list is not empty by accident)


# B acts on A's server: it does not exist for B.
ON_A_SERVER = {
    "show": Cell("GET", "/servers/{a_srv}", refusal=NOT_A_SRV),
    "update-rename": Cell("PUT", "/servers/{a_srv}", {"server": {"name": "pwned"}},
                          refusal=NOT_A_SRV),
    "delete": Cell("DELETE", "/servers/{a_srv}", refusal=NOT_A_SRV),
    "ips": Cell("GET", "/servers/{a_srv}/ips", refusal=NOT_A_SRV),
    "action-os-start": Cell("POST", "/servers/{a_srv}/action", {"os-start": None},
                            refusal=NOT_A_SRV),
    "action-os-stop": Cell("POST", "/servers/{a_srv}/action", {"os-stop": None},
                           refusal=NOT_A_SRV),
    "action-reboot-soft": Cell("POST", "/servers/{a_srv}/action",
                               {"reboot": {"type": "SOFT"}}, refusal=NOT_A_SRV),
    "action-reboot-hard": Cell("POST", "/servers/{a_srv}/action",
                               {"reboot": {"type": "HARD"}}, refusal=NOT_A_SRV),
    "action-console-output": Cell("POST", "/servers/{a_srv}/action",
                                  {"os-getConsoleOutput": {"length": 10}}, refusal=NOT_A_SRV),
    "os-interface-list": Cell("GET", "/servers/{a_srv}/os-interface", refusal=NOT_A_SRV),
    "os-interface-show": Cell("GET", "/servers/{a_srv}/os-interface/{a_bound}",
                              refusal=NOT_A_SRV),
    "os-interface-attach-own-net": Cell("POST", "/servers/{a_srv}/os-interface",
                                        attach(net_id="{b_net}"), refusal=NOT_A_SRV),
    "os-interface-attach-own-port": Cell("POST", "/servers/{a_srv}/os-interface",
                                         attach(port_id="{b_free}"), refusal=NOT_A_SRV),
    "os-interface-detach": Cell("DELETE", "/servers/{a_srv}/os-interface/{a_bound}",
                                refusal=NOT_A_SRV),
    "metadata-list": Cell("GET", "/servers/{a_srv}/metadata", refusal=NOT_A_SRV),
    "metadata-update": Cell("POST", "/servers/{a_srv}/metadata",
                            {"metadata": {"owner": "b"}}, refusal=NOT_A_SRV),
    "metadata-replace": Cell("PUT", "/servers/{a_srv}/metadata",
                             {"metadata": {"x": "y"}}, refusal=NOT_A_SRV),
    "metadata-item-get": Cell("GET", "/servers/{a_srv}/metadata/owner", refusal=NOT_A_SRV),
    "metadata-item-set": Cell("PUT", "/servers/{a_srv}/metadata/owner",
                              {"meta": {"owner": "b"}}, refusal=NOT_A_SRV),
    "metadata-item-delete": Cell("DELETE", "/servers/{a_srv}/metadata/owner",
                                 refusal=NOT_A_SRV),
}

HIDE = ("{a_srv}", "{a_gone}", "{a_name}")
ALL_TENANTS = "Policy doesn't allow os_compute_api:servers:{}:get_all_tenants to be performed."

# B lists: A's servers are never named; asking for everyone's is policy.
LISTS = {
    "list": Cell("GET", "/servers", hidden=HIDE),
    "detail": Cell("GET", "/servers/detail", hidden=HIDE),
    "list-project_id=A": Cell("GET", "/servers?project_id={a_project}", hidden=HIDE),
    "detail-project_id=A": Cell("GET", "/servers/detail?project_id={a_project}", hidden=HIDE),
    "list-tenant_id=A": Cell("GET", "/servers?tenant_id={a_project}", hidden=HIDE),
    "detail-tenant_id=A": Cell("GET", "/servers/detail?tenant_id={a_project}", hidden=HIDE),
    "list-name=A's": Cell("GET", "/servers?name={a_name}", hidden=HIDE, shows_b=False),
    "detail-name=A's": Cell("GET", "/servers/detail?name={a_name}", hidden=HIDE,
                            shows_b=False),
    "list-changes-since": Cell("GET", "/servers?changes-since={since}", hidden=HIDE),
    "detail-changes-since": Cell("GET", "/servers/detail?changes-since={since}",
                                 hidden=HIDE),
    "list-all_tenants": Cell("GET", "/servers?all_tenants=1",
                             refusal=(403, "forbidden", ALL_TENANTS.format("index"))),
    "detail-all_tenants": Cell("GET", "/servers/detail?all_tenants=1",
                               refusal=(403, "forbidden", ALL_TENANTS.format("detail"))),
    "list-all_tenants-project_id=A": Cell(
        "GET", "/servers?all_tenants=1&project_id={a_project}",
        refusal=(403, "forbidden", ALL_TENANTS.format("index"))),
    "list-marker=A's": Cell("GET", "/servers?marker={a_srv}",
                            refusal=(400, "badRequest", "marker [{a_srv}] not found")),
    "detail-limit-marker=A's": Cell("GET", "/servers/detail?limit=1&marker={a_srv}",
                                    refusal=(400, "badRequest", "marker [{a_srv}] not found")),
    "list-marker=A's-deleted": Cell("GET", "/servers?changes-since={since}&marker={a_gone}",
                                    refusal=(400, "badRequest",
                                             "marker [{a_gone}] not found")),
}

PORT_GONE = "Port id {%s} could not be found."  # noqa: UP031 (filled twice)
NET_GONE = "Network {%s} could not be found."
EXTERNAL = (403, "forbidden", "It is not allowed to create an interface on external "
            "network {ext}")


def in_use(port: str) -> tuple[int, str, str]:
    return (409, "conflictingRequest", "Port {" + port + "} is still in use.")


# B references what is not B's (or not free) when booting or attaching to its own server.
REFERENCES = {
    "boot-on-A's-network": Cell("POST", "/servers", boot({"uuid": "{a_net}"}),
                                refusal=(400, "badRequest", NET_GONE % "a_net")),
    "boot-with-A's-free-port": Cell("POST", "/servers", boot({"port": "{a_free}"}),
                                    refusal=(400, "badRequest", PORT_GONE % "a_free")),
    "boot-with-port-bound-to-A's-server": Cell(
        "POST", "/servers", boot({"port": "{a_bound}"}),
        refusal=(400, "badRequest", PORT_GONE % "a_bound")),
    "boot-on-external-network": Cell("POST", "/servers", boot({"uuid": "{ext}"}),
                                     refusal=EXTERNAL),
    "boot-with-own-port-on-external-network": Cell(
        "POST", "/servers", boot({"port": "{b_ext_port}"}), refusal=EXTERNAL),
    "boot-own-network-then-external": Cell(
        "POST", "/servers", boot({"uuid": "{b_net}"}, {"uuid": "{ext}"}), refusal=EXTERNAL),
    "boot-with-own-port-in-use": Cell("POST", "/servers", boot({"port": "{b_given}"}),
                                      refusal=in_use("b_given")),
    "boot-with-own-port-claiming-A's-server": Cell(
        "POST", "/servers", boot({"port": "{b_tampered}"}), refusal=in_use("b_tampered")),
    "boot-with-own-router-port": Cell("POST", "/servers", boot({"port": "{b_router_port}"}),
                                      refusal=in_use("b_router_port")),
    "attach-A's-network": Cell("POST", "/servers/{b_srv}/os-interface",
                               attach(net_id="{a_net}"),
                               refusal=(404, "itemNotFound", NET_GONE % "a_net")),
    "attach-A's-free-port": Cell("POST", "/servers/{b_srv}/os-interface",
                                 attach(port_id="{a_free}"),
                                 refusal=(404, "itemNotFound", PORT_GONE % "a_free")),
    "attach-port-bound-to-A's-server": Cell(
        "POST", "/servers/{b_srv}/os-interface", attach(port_id="{a_bound}"),
        refusal=(404, "itemNotFound", PORT_GONE % "a_bound")),
    "attach-external-network": Cell("POST", "/servers/{b_srv}/os-interface",
                                    attach(net_id="{ext}"), refusal=EXTERNAL),
    "attach-own-port-on-external-network": Cell(
        "POST", "/servers/{b_srv}/os-interface", attach(port_id="{b_ext_port}"),
        refusal=EXTERNAL),
    "attach-own-port-in-use": Cell("POST", "/servers/{b_srv}/os-interface",
                                   attach(port_id="{b_given}"), refusal=in_use("b_given")),
    "attach-own-port-claiming-A's-server": Cell(
        "POST", "/servers/{b_srv}/os-interface", attach(port_id="{b_tampered}"),
        refusal=in_use("b_tampered")),
    "attach-own-router-port": Cell("POST", "/servers/{b_srv}/os-interface",
                                   attach(port_id="{b_router_port}"),
                                   refusal=in_use("b_router_port")),
    "detach-A's-port-from-own-server": Cell(
        "DELETE", "/servers/{b_srv}/os-interface/{a_bound}",
        refusal=(404, "itemNotFound", "Port {a_bound} is not attached")),
}

CELLS = {**{f"on-A's-server:{k}": v for k, v in ON_A_SERVER.items()},
         **{f"list:{k}": v for k, v in LISTS.items()},
         **{f"reference:{k}": v for k, v in REFERENCES.items()}}


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {_fill(k, ids): _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_fill(v, ids) for v in value)
    return value


def test_the_matrix_has_every_cell():
    assert len(CELLS) == 54
    assert len({(c.method, c.path, str(c.body)) for c in CELLS.values()}) == len(CELLS)


@pytest.mark.parametrize("cell", list(CELLS.values()), ids=list(CELLS))
def test_member_b_is_refused(world, cell):
    ids = {**world.ids, "since": world.since}
    with world.nova("b") as b:
        r = b.request(cell.method, _fill(cell.path, ids), json=_fill(cell.body, ids))
    if cell.refusal:
        status, fault, message = cell.refusal
        assert (r.status_code, r.json()) == (
            status, {fault: {"code": status, "message": _fill(message, ids)}})
    else:
        assert r.status_code == 200, r.text
        for secret in _fill(cell.hidden, ids):
            assert secret not in r.text
        assert (ids["b_srv"] in r.text) is cell.shows_b
    world.assert_intact()


# Controls: the same kinds of request succeed for those allowed to make them. -------
def test_a_and_admin_reach_a_server_and_b_pages_its_own(world):
    i = world.ids
    with world.nova("a") as a:
        assert a.get(f"/servers/{i['a_srv']}/metadata/owner").json() == {"meta": {"owner": "a"}}
        assert [s["id"] for s in a.get("/servers", params={"name": i["a_name"]}).json()[
            "servers"]] == [i["a_srv"]]
    with world.nova("admin") as admin:
        found = admin.get("/servers", params={"all_tenants": "1",
                                              "project_id": world.a}).json()["servers"]
        assert [s["id"] for s in found] == [i["a_srv"]]
        assert admin.get(f"/servers/{i['a_srv']}").status_code == 200
    with world.nova("b") as b:
        page = b.get("/servers", params={"limit": "1"}).json()
        assert [s["id"] for s in page["servers"]] == [i["b_srv"]]
        assert page["servers_links"][0]["href"].endswith(f"marker={i['b_srv']}")
        after = b.get("/servers", params={"limit": "1", "marker": i["b_srv"]}).json()
        assert after == {"servers": []}
    world.assert_intact()


def test_admin_boots_on_the_external_network_and_members_on_a_shared_one(world, compute):
    with world.neutron("admin") as c:
        shared = c.post("/networks", json={"network": {
            "name": "public-shared", "router:external": True, "shared": True}}).json()["network"]
        assert c.post("/subnets", json={"subnet": {"network_id": shared["id"], "ip_version": 4,
                                                   "cidr": "198.51.100.0/24"}}).status_code == 201
    for who, net_id in (("admin", world.ids["ext"]), ("b", shared["id"])):
        with world.nova(who) as c:
            r = c.post("/servers", json=boot({"uuid": net_id}))
            assert r.status_code == 202, r.text
            sid = r.json()["server"]["id"]
            port = c.get(f"/servers/{sid}/os-interface").json()["interfaceAttachments"][0]
            assert port["net_id"] == net_id
            assert c.delete(f"/servers/{sid}").status_code == 204
            wait_for(lambda: c.get(f"/servers/{sid}").status_code == 404,  # noqa: B023
                     timeout=20, what="server deleted")
    world.dirty = True  # B's and the external network's ports moved; the next cell rebuilds
