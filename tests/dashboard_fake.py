"""An in-tree fake of the public APIs the dashboard calls (network, compute,
load-balancer, orchestrator RPC): one ASGI app told apart by host name, in-memory,
scoped by ``X-Project-Id`` like the real services (an admin sees every project's
network resources; a member only its own). ``fail`` injects an API error for a path;
``calls`` records what was asked, with the identity it carried.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from astara.dashboard.settings import DashboardSettings

HOSTS = {"network": "http://net.fake", "compute": "http://compute.fake",
         "loadbalancer": "http://lb.fake", "rpc": "http://rpc.fake"}
RPC_TOKEN = b"fake-rpc-token"
ADMIN_PASSWORD = b"fake-admin-password"
LB_CHILDREN = {"listeners": "listener", "pools": "pool", "healthmonitors": "healthmonitor"}
COLLECTIONS = {"networks": "network", "subnets": "subnet", "routers": "router",
               "ports": "port", "floatingips": "floatingip"}


SECRET = b"s" * 32


def login(fake: FakeApis, project: str = "p1", role: str = "member", **over):
    """A TestClient of a dashboard on ``fake``, logged in (noauth) as ``project``."""
    from starlette.testclient import TestClient

    from astara.dashboard.app import create_app
    app = create_app(settings(**over), SECRET, RPC_TOKEN, transport=fake.transport(),
                     admin_password=ADMIN_PASSWORD)
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/login", data={"project": project, "role": role, "user": "alice",
                               "admin_password": ADMIN_PASSWORD.decode()},
               follow_redirects=False)
    assert r.status_code == 303
    return c


def csrf_of(c, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(path).text).group(1)


def settings(**over) -> DashboardSettings:
    urls = {"network_url": HOSTS["network"], "compute_url": HOSTS["compute"],
            "loadbalancer_url": HOSTS["loadbalancer"], "rpc_url": HOSTS["rpc"]}
    # TestClient's Host is "testserver": an operator's allowed host here.
    return DashboardSettings(**{**urls, "allowed_hosts": ("testserver",), **over})


class FakeApis:
    def __init__(self):
        self.store: dict[str, dict[str, dict]] = {k: {} for k in (
            *COLLECTIONS, "servers", "loadbalancers", *LB_CHILDREN, "members")}
        self.hosts = {"host-a": {"drained": False, "capacity": 100, "instances": 0}}
        self.orch: dict[str, dict] = {}
        self.dead_letters: dict[int, dict] = {}  # id -> letter; "fixed" ones apply
        self.commands: list[tuple[str, str]] = []
        self.calls: list[tuple[str, str, str, str]] = []  # method, host, path, project
        self.headers: list[dict[str, str]] = []  # each call's request headers
        self.fail: dict[str, tuple[int, dict]] = {}
        self.keystone: dict[str, list[str]] = {}  # a valid token -> its role names
        self._ips = itertools.count(10)
        self.app = Starlette(routes=[Route("/{path:path}", self.dispatch, methods=[
            "GET", "POST", "PUT", "DELETE"])])

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    # seeding ------------------------------------------------------------------------
    def add(self, collection: str, project: str, **fields) -> dict:
        item = {"id": str(uuid.uuid4()), "project_id": project, "tenant_id": project,
                "name": "", "status": "ACTIVE", **fields}
        self.store[collection][item["id"]] = item
        return item

    # dispatch -----------------------------------------------------------------------
    async def dispatch(self, request: Request) -> Response:
        host = request.url.hostname.split(".")[0]
        path = "/" + request.path_params["path"]
        project = request.headers.get("x-project-id", "")
        admin = "admin" in request.headers.get("x-roles", "").split(",")
        self.calls.append((request.method, host, path, project))
        self.headers.append(dict(request.headers))
        if path in self.fail:
            status, body = self.fail[path]
            return JSONResponse(body, status_code=status)
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        handler = {"net": self.network, "compute": self.compute, "lb": self.lbaas,
                   "rpc": self.rpc, "ks": self.identity}[host]
        return handler(request, path.strip("/").split("/"), project, admin, body)

    def identity(self, request, parts, project, admin, body) -> Response:
        """Keystone's ``/v3/auth/tokens``: validate (GET) and revoke (DELETE)."""
        token = request.headers.get("x-subject-token", "")
        if parts != ["v3", "auth", "tokens"] or token not in self.keystone or \
                request.headers.get("x-auth-token") not in self.keystone:
            return JSONResponse({"error": {"code": 404, "message": "not found"}}, 404)
        if request.method == "DELETE":
            del self.keystone[token]
            return Response(status_code=204)
        return JSONResponse({"token": {"roles": [{"id": r, "name": r}
                                                 for r in self.keystone[token]]}})

    def _visible(self, item: dict, project: str, admin: bool) -> bool:
        return admin or item.get("project_id") == project or item.get("router:external")

    def _list(self, collection: str, request: Request, project: str, admin: bool) -> list:
        out = []
        for item in self.store[collection].values():
            if not self._visible(item, project, admin):
                continue
            q = request.query_params
            if any(str(item.get(k)).lower() != v.lower() for k, v in q.items()
                   if k not in ("fields",)):
                continue
            out.append(item)
        return out

    @staticmethod
    def _neutron_error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"NeutronError": {"type": "Err", "message": message,
                                              "detail": ""}}, status_code=status)

    def network(self, request, parts, project, admin, body) -> Response:
        parts = parts[1:]  # v2.0
        coll = parts[0]
        single = COLLECTIONS.get(coll)
        if single is None:
            return self._neutron_error(404, "The resource could not be found.")
        if len(parts) == 1:
            if request.method == "GET":
                return JSONResponse({coll: self._list(coll, request, project, admin)})
            fields = body.get(single, {})
            if coll == "subnets":
                net = self.store["networks"].get(fields.get("network_id"))
                if net is None or not self._visible(net, project, admin):
                    return self._neutron_error(404, "Network could not be found.")
                fields.setdefault("gateway_ip", fields.get("cidr", "").rsplit(".", 1)[0]
                                  + ".1")
            if coll == "routers":
                fields = {"status": "BUILD", "ha": False, "routes": [],
                          "external_gateway_info": None, **fields}
            if coll == "floatingips":
                fields = {"floating_ip_address": f"172.24.4.{next(self._ips)}",
                          "port_id": None, "status": "DOWN", **fields}
            item = self.add(coll, project, **fields)
            return JSONResponse({single: item}, status_code=201)
        item = self.store[coll].get(parts[1])
        if item is None or not self._visible(item, project, admin):
            return self._neutron_error(404, f"{single.capitalize()} {parts[1]} could not "
                                            "be found.")
        if request.method == "GET":
            return JSONResponse({single: item})
        if request.method == "DELETE":
            del self.store[coll][item["id"]]
            return Response(status_code=204)
        if len(parts) == 3:  # add/remove_router_interface
            return self._interface(item, parts[2], body, project)
        item.update(body.get(single, {}))
        return JSONResponse({single: item})

    def _interface(self, router: dict, verb: str, body: dict, project: str) -> Response:
        subnet = self.store["subnets"].get(body.get("subnet_id"))
        if subnet is None:
            return self._neutron_error(404, "Subnet could not be found.")
        if verb == "remove_router_interface":
            for pid, p in list(self.store["ports"].items()):
                if p["device_id"] == router["id"] and \
                        p["fixed_ips"][0]["subnet_id"] == subnet["id"]:
                    del self.store["ports"][pid]
            return JSONResponse({"id": router["id"]})
        port = self.add("ports", project, network_id=subnet["network_id"],
                        device_id=router["id"], device_owner="network:router_interface",
                        fixed_ips=[{"subnet_id": subnet["id"],
                                    "ip_address": subnet["gateway_ip"]}])
        return JSONResponse({"id": router["id"], "port_id": port["id"]})

    @staticmethod
    def _compute_version(request: Request) -> tuple[int, int]:
        value = request.headers.get("openstack-api-version", "")
        if not value.startswith("compute "):
            value = "compute " + request.headers.get("x-openstack-nova-api-version", "2.1")
        major, _, minor = value.split(" ", 1)[1].partition(".")
        return int(major), int(minor or 0)

    def compute(self, request, parts, project, admin, body) -> Response:
        parts = parts[1:]  # v2.1
        nf = JSONResponse({"itemNotFound": {"code": 404, "message": "Instance could not "
                                                                    "be found."}}, 404)
        if parts[0] == "flavors":
            return JSONResponse({"flavors": [{"id": "1", "name": "m1.tiny"}]})
        if parts[0] == "images":
            return JSONResponse({"images": [{"id": "img-1", "name": "cirros"}]})
        if parts[0] == "os-astara-dead-letters":
            return self._dead_letters(request, parts, admin)
        if parts[0] == "os-services":
            if self._compute_version(request) < (2, 53):  # ids are UUIDs from 2.53 only
                return JSONResponse({"itemNotFound": {"code": 404, "message":
                                     "Service not found (no microversion 2.53)."}}, 404)
            if not admin:
                return JSONResponse({"forbidden": {"code": 403, "message": "Policy doesn't "
                                     "allow os_compute_api:os-services to be performed."}},
                                    403)
            services = {f"svc-{n}": {
                "id": f"svc-{n}", "host": n, "status": "disabled" if h["drained"] else
                "enabled", "state": "up", "updated_at": "2026-01-01T00:00:00Z",
                "astara:capacity": h["capacity"], "astara:instances": h["instances"]}
                for n, h in self.hosts.items()}  # ids unlike host names, as Nova's
            if request.method == "PUT":
                host = services[parts[1]]["host"]
                self.hosts[host]["drained"] = body["status"] == "disabled"
                return JSONResponse({"service": {**services[parts[1]], "status":
                                                 body["status"]}})
            return JSONResponse({"services": list(services.values())})
        servers = self.store["servers"]
        if parts == ["servers"] and request.method == "POST":
            s = body["server"]
            item = self.add("servers", project, name=s["name"], status="BUILD",
                            progress=0, flavor={"id": s["flavorRef"]},
                            image={"id": s["imageRef"]}, metadata={}, addresses={
                                self.store["networks"][n["uuid"]]["name"]:
                                [{"addr": "10.0.0.5"}] for n in s.get("networks", [])})
            for n in s.get("networks", []):  # the port Nova makes on the network
                self.add("ports", project, network_id=n["uuid"], device_id=item["id"],
                         device_owner="compute:nova",
                         fixed_ips=[{"subnet_id": None, "ip_address": "10.0.0.5"}])
            return JSONResponse({"server": {"id": item["id"]}}, status_code=202)
        if parts == ["servers", "detail"]:
            return JSONResponse({"servers": [s for s in servers.values()
                                             if s["tenant_id"] == project]})
        item = servers.get(parts[1])
        if item is None or item["tenant_id"] != project and not admin:
            return nf
        if len(parts) == 2:
            if request.method == "DELETE":
                del servers[item["id"]]
                for pid in [p for p, v in self.store["ports"].items()
                            if v.get("device_id") == item["id"]]:
                    del self.store["ports"][pid]
                return Response(status_code=204)
            return JSONResponse({"server": item})
        if parts[2] == "metadata":
            if request.method == "POST":
                item["metadata"].update(body["metadata"])
            elif request.method == "DELETE":
                item["metadata"].pop(parts[3], None)
                return Response(status_code=204)
            return JSONResponse({"metadata": item["metadata"]})
        if "os-getConsoleOutput" in body:
            return JSONResponse({"output": "login: <b>root</b>\n"})
        item["status"] = {"os-stop": "SHUTOFF", "os-start": "ACTIVE",
                          "reboot": "REBOOT"}[next(iter(body))]
        return Response(status_code=202)

    def _dead_letters(self, request, parts, admin) -> Response:
        if not admin:
            return JSONResponse({"forbidden": {"code": 403, "message": "Policy doesn't allow "
                                 "os_compute_api:os-astara-dead-letters to be performed."}},
                                403)
        if len(parts) == 1:
            raw = request.query_params.get("limit", "100")
            if not re.fullmatch(r"[0-9]{1,4}", raw) or not 0 < int(raw) <= 1000:
                return JSONResponse({"badRequest": {"code": 400, "message": "Invalid input "
                                     f"for query parameters limit. Value: {raw}."}}, 400)
            limit = int(raw)
            shown = [{k: v for k, v in d.items() if k != "fixed"}
                     for d in sorted(self.dead_letters.values(), key=lambda d: d["id"])]
            return JSONResponse({"dead_letters": shown[:limit]})
        dead = self.dead_letters.get(int(parts[1])) if parts[1].isdigit() else None
        if dead is None:
            return JSONResponse({"itemNotFound": {"code": 404, "message": f"Dead letter "
                                 f"{parts[1]} could not be found."}}, 404)
        if dead.get("fixed"):
            del self.dead_letters[dead["id"]]
            return JSONResponse({"retry": {"id": dead["id"], "result": "applied",
                                           "dead_letter": None}})
        dead["error"] = "retry failed: ValueError: still broken"
        return JSONResponse({"retry": {"id": dead["id"], "result": "still_failing",
                                       "dead_letter": dead}})

    @staticmethod
    def _octavia_error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"faultcode": "Client", "faultstring": message,
                             "debuginfo": None}, status)

    def lbaas(self, request, parts, project, admin, body) -> Response:
        lbs = self.store["loadbalancers"]
        if len(parts) >= 3 and parts[2] in LB_CHILDREN:
            return self._lb_child(request, parts[2:], project, admin, body)
        if len(parts) == 3:
            if request.method == "POST":
                item = self.add("loadbalancers", project, provisioning_status="PENDING_CREATE",
                                operating_status="OFFLINE", vip_address="10.0.0.9",
                                **body["loadbalancer"])
                return JSONResponse({"loadbalancer": item}, status_code=201)
            return JSONResponse({"loadbalancers": [lb for lb in lbs.values()
                                                   if lb["project_id"] == project]})
        item = lbs.get(parts[3])
        if item is None or item["project_id"] != project and not admin:
            return self._octavia_error(404, "Load Balancer not found.")
        if request.method == "DELETE":
            del lbs[item["id"]]
            return Response(status_code=204)
        return JSONResponse({"loadbalancer": item})

    def _lb_child(self, request, parts, project, admin, body) -> Response:
        """listeners, pools (and their members), healthmonitors: Octavia's relations
        (``loadbalancers``, ``pools``) as lists of ids, a member by its pool."""
        plural = parts[0]
        if len(parts) >= 3 and parts[2] == "members":
            return self._members(request, parts, project, admin, body)
        store, single = self.store[plural], LB_CHILDREN[plural]
        if len(parts) == 1:
            if request.method == "GET":
                return JSONResponse({plural: [i for i in store.values()
                                              if admin or i["project_id"] == project]})
            fields = dict(body[single])
            if fields.get("protocol_port") == 666:
                return self._octavia_error(409, "Load Balancer is immutable and cannot be "
                                                "updated.")
            lb_id = fields.pop("loadbalancer_id", None)
            if plural == "pools" and fields.get("listener_id"):
                lb_id = self.store["listeners"][fields["listener_id"]]["loadbalancers"][0][
                    "id"]
            if plural == "healthmonitors":
                fields["pools"] = [{"id": fields.pop("pool_id")}]
            else:
                fields["loadbalancers"] = [{"id": lb_id}]
            item = self.add(plural, project, provisioning_status="PENDING_CREATE",
                            operating_status="OFFLINE", **fields)
            return JSONResponse({single: item}, status_code=201)
        item = store.get(parts[1])
        if item is None or item["project_id"] != project and not admin:
            return self._octavia_error(404, f"{single.capitalize()} not found.")
        if request.method == "DELETE":
            del store[item["id"]]
            return Response(status_code=204)
        return JSONResponse({single: item})

    def _members(self, request, parts, project, admin, body) -> Response:
        pool = self.store["pools"].get(parts[1])
        if pool is None or pool["project_id"] != project and not admin:
            return self._octavia_error(404, "Pool not found.")
        members = self.store["members"]
        if len(parts) == 3:
            if request.method == "GET":
                return JSONResponse({"members": [m for m in members.values()
                                                 if m["pool_id"] == pool["id"]]})
            item = self.add("members", project, pool_id=pool["id"],
                            provisioning_status="PENDING_CREATE", operating_status="NO_MONITOR",
                            **body["member"])
            return JSONResponse({"member": item}, status_code=201)
        item = members.get(parts[3])
        if item is None or item["pool_id"] != pool["id"]:
            return self._octavia_error(404, "Member not found.")
        if request.method == "DELETE":
            del members[item["id"]]
            return Response(status_code=204)
        return JSONResponse({"member": item})

    def rpc(self, request, parts, project, admin, body) -> Response:
        if request.headers.get("x-auth-token", "").encode() != RPC_TOKEN:
            return JSONResponse({"error": {"code": 401, "message": "bad token"}}, 401)
        if parts == ["routers", ""] or parts == ["routers"]:
            return JSONResponse({"routers": list(self.orch.values())})
        if parts[0] == "workers":
            return JSONResponse({"workers": [{"index": 0, "pid": 42, "alive": True,
                                              "restarts": 0, "passes": 7, "queued": 0}]})
        if parts[0] == "health":
            return JSONResponse({"breaker": {"state": "closed"}})
        if parts[0] == "router" and request.method == "PUT":
            if parts[2] not in self.orch:
                return JSONResponse({"error": {"code": 404, "message":
                                               f"router {parts[2]} not found"}}, 404)
            self.commands.append((parts[1], parts[2]))
            return JSONResponse({"router": parts[2], "command": parts[1]})
        return JSONResponse({"error": {"code": 404, "message": "no route"}}, 404)
