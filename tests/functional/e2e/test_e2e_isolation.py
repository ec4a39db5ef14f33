"""Tenant isolation on the data plane, end to end, as root (issue 9).

Two member projects on a fresh all-in-one: A and B each get a network, a subnet, a
router with its gateway on the external network and an instance (B a second one);
A's instance also has a floating IP and user_data holding a secret. Then B attacks A the way issue 9
found it could, and each attack is judged where it matters, from inside B's
instance's namespace (``ip netns exec``), as a user on B's console would:

1. B plugs its network into A's router with a forged ``network:router_interface``
   port (create and update, on B's gateway and on spare addresses): the API
   refuses, A's appliance never gets an interface on B's network, and B's instance,
   routing A's network through the forged addresses, reaches nothing of A's.
2. Metadata: a bare-LF smuggled ``X-Forwarded-For`` naming A's instance is a 400;
   identity headers B sends are ignored (B reads its own metadata); B setting its
   port's ``device_id`` to A's server reads nothing of A's, also on a fresh
   resolution (a second instance of B's that never asked, so its address is not in
   the proxy's cache: the same as after its 60 s cache expired, without waiting).
3. B's instance cannot reach A's instance's private address nor A's router's
   internal address; A's floating IP still reaches A's instance from upstream.

"Refused on the data plane" needs the orchestrator to have acted on whatever B
did: after B's attempts, A changes its router (an extra route, a marker) and the
test waits until the marker is in A's appliance. The orchestrator is
level-triggered, so that config was built from a read of the network model made
after B's attempts: had one of them become an interface of A's router, it would
be in A's appliance too.

4. (its own test) B asks the compute API for a port on the external network, by
   booting an instance there and by ``os-interface``: Nova's 403.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from openstack.exceptions import ConflictException
from tests.functional.e2e.e2e_helpers import netns
from tests.support import wait_for

from astara.burnin.host import Upstream, in_ns
from astara.burnin.scenario import Options, connection
from astara.compute_service.agent.netns import bridge_name

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "curl", "ping")
EXT_CIDR = "192.0.2.0/24"
CIDRS = {"a": "10.61.0.0/24", "b": "10.62.0.0/24"}
MARKERS = "198.18.0.0/24"  # destinations of A's marker routes
METADATA = "http://169.254.169.254/openstack/latest"
IFACE = "network:router_interface"

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


# -- the two projects -----------------------------------------------------------------

class Api:
    """Raw calls as one project, to see the status and error body of a refusal."""

    def __init__(self, ports: dict, project: str, admin: bool = False):
        self.headers = {"X-Project-Id": project, "X-User-Id": f"user-{project}",
                        "X-Roles": "admin,member,reader" if admin else "member,reader"}
        self.net = f"http://127.0.0.1:{ports['net']}/v2.0"
        self.comp = f"http://127.0.0.1:{ports['comp']}/v2.1"

    def call(self, method: str, url: str, body: dict | None = None) -> httpx.Response:
        return httpx.request(method, url, json=body, headers=self.headers, timeout=20)


@dataclass
class Tenant:
    key: str
    project: str
    sdk: object
    api: Api
    cidr: str
    made: dict = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.cidr).network_address + 1)

    def spare(self, n: int) -> str:
        return str(ipaddress.ip_network(self.cidr).network_address + n)

    @property
    def vm_ns(self) -> str:
        return f"astara-vm-{self.made['server']}"

    @property
    def vm2_ns(self) -> str:
        return f"astara-vm-{self.made['server2']}"

    def servers(self) -> list[str]:
        return [self.made[k] for k in ("server", "server2") if k in self.made]


class World:
    """The external network, upstream, A and B: made, and removed whatever happened."""

    def __init__(self, ports: dict):
        run = uuid.uuid4().hex[:6]
        self.run = run
        o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                    compute_url=f"http://127.0.0.1:{ports['comp']}/")
        self.admin = connection(o, f"iso-admin-{run}", admin=True)
        self.ports = ports
        self.t = {k: Tenant(k, f"iso-{k}-{run}", connection(o, f"iso-{k}-{run}", False),
                            Api(ports, f"iso-{k}-{run}"), CIDRS[k]) for k in ("a", "b")}
        self.ext: str | None = None
        self.upstream: Upstream | None = None
        self.secret = f"a-secret-{uuid.uuid4().hex}"
        self.appliances: dict[str, str] = {}

    @property
    def a(self) -> Tenant:
        return self.t["a"]

    @property
    def b(self) -> Tenant:
        return self.t["b"]

    def build(self, with_routers: bool = True) -> None:
        ext = self.admin.network.create_network(name=f"iso-public-{self.run}",
                                                is_router_external=True)
        self.ext = ext.id
        self.admin.network.create_subnet(
            network_id=ext.id, cidr=EXT_CIDR, ip_version=4, is_dhcp_enabled=False,
            gateway_ip="192.0.2.1",
            allocation_pools=[{"start": "192.0.2.10", "end": "192.0.2.200"}])
        if not with_routers:
            return
        self.upstream = Upstream(f"iso{self.run[:4]}", bridge_name("brq", ext.id), EXT_CIDR,
                                 "192.0.2.1")
        self.upstream.open()
        for t in self.t.values():
            net = t.sdk.network
            t.made["net"] = net.create_network(name=f"iso-{t.key}-net").id
            t.made["sub"] = net.create_subnet(network_id=t.made["net"], cidr=t.cidr,
                                              ip_version=4).id
            router = net.create_router(name=f"iso-{t.key}-router",
                                       external_gateway_info={"network_id": ext.id})
            t.made["router"] = router.id
            net.add_interface_to_router(router, subnet_id=t.made["sub"])
        for t in self.t.values():
            user_data = self.secret if t.key == "a" else f"b-data-{self.run}"
            t.made["name"] = f"iso-{t.key}-vm-{self.run}"
            t.made["server"] = t.sdk.compute.create_server(
                name=t.made["name"], image_id="astara-tenant", flavor_id="1",
                networks=[{"uuid": t.made["net"]}],
                user_data=base64.b64encode(user_data.encode()).decode()).id
        # B's second instance: it asks for metadata only once its port names A's server,
        # so the proxy resolves it afresh (as after its cache expired).
        b = self.b
        b.made["server2"] = b.sdk.compute.create_server(
            name=f"iso-b2-vm-{self.run}", image_id="astara-tenant", flavor_id="1",
            networks=[{"uuid": b.made["net"]}]).id
        for t in self.t.values():
            wait_for(lambda t=t: t.sdk.network.get_router(t.made["router"]).status == "ACTIVE",
                     120, f"{t.key}'s router ACTIVE")
            wait_for(lambda t=t: t.sdk.compute.get_server(t.made["server"]).status == "ACTIVE",
                     90, f"{t.key}'s instance ACTIVE")
            port = next(iter(t.sdk.network.ports(device_id=t.made["server"])))
            t.made["port"] = port.id
            t.made["ip"] = port.fixed_ips[0]["ip_address"]
            wait_for(lambda t=t: t.made["ip"] in in_ns(t.vm_ns, "ip", "-o", "addr").stdout,
                     60, f"{t.key}'s instance leases {t.made['ip']}")
            if t.key == "b":
                wait_for(lambda: b.sdk.compute.get_server(b.made["server2"]).status
                         == "ACTIVE", 90, "B's second instance ACTIVE")
                port = next(iter(b.sdk.network.ports(device_id=b.made["server2"])))
                b.made.update(port2=port.id, ip2=port.fixed_ips[0]["ip_address"])
                wait_for(lambda: b.made["ip2"] in in_ns(b.vm2_ns, "ip", "-o", "addr").stdout,
                         60, f"B's second instance leases {b.made['ip2']}")
            servers = list(self.admin.compute.servers(all_projects=True,
                                                      name=f"^ak-{t.made['router']}$"))
            assert len(servers) == 1, f"{t.key}'s router has {len(servers)} appliances"
            self.appliances[t.key] = f"astara-appliance-{servers[0].id}"
        fip = self.a.sdk.network.create_ip(floating_network_id=ext.id,
                                           port_id=self.a.made["port"])
        self.a.made.update(fip=fip.id, fip_ip=fip.floating_ip_address)
        assert self.upstream is not None
        wait_for(lambda: self.a.made["name"] in curl(self.upstream.ns,
                                                     f"http://{fip.floating_ip_address}/"),
                 60, "upstream reaches A's instance at its floating IP")

    def cleanup(self) -> None:
        for t in self.t.values():
            for server in t.servers():
                _quiet(lambda t=t, s=server: t.sdk.compute.delete_server(s))
        if "fip" in self.a.made:
            _quiet(lambda: self.a.sdk.network.delete_ip(self.a.made["fip"]))
        for t in self.t.values():
            for port in t.made.get("extra_ports", []):
                _quiet(lambda p=port, t=t: self._delete_port(t, p))
        for t in self.t.values():
            if "router" in t.made:
                rid = t.made["router"]
                _quiet(lambda t=t, rid=rid: t.sdk.network.update_router(rid, routes=[]))
                _quiet(lambda t=t, rid=rid: t.sdk.network.remove_interface_from_router(
                    rid, subnet_id=t.made["sub"]))
                _quiet(lambda t=t, rid=rid: t.sdk.network.delete_router(rid))
        for t in self.t.values():
            for server in t.servers():
                _quiet(lambda t=t, s=server: wait_for(
                    lambda: t.sdk.compute.find_server(s) is None, 60,
                    f"{t.key}'s instance {s} deleted"))
            if "net" in t.made:
                _quiet(lambda t=t: wait_for(
                    lambda: deleted(lambda: t.sdk.network.delete_network(t.made["net"])), 60,
                    f"{t.key}'s network deleted"))
        _quiet(lambda: wait_for(lambda: not (set(self.appliances.values()) & netns()), 120,
                                "the appliances' namespaces gone"))
        if self.upstream is not None:
            self.upstream.close()
        if self.ext is not None:
            _quiet(lambda: wait_for(
                lambda: deleted(lambda: self.admin.network.delete_network(self.ext)), 60,
                "external network deleted"))

    def _delete_port(self, t: Tenant, port: str) -> None:
        try:
            t.sdk.network.delete_port(port)
        except Exception:  # a forged interface that got through: A's router holds it
            self.admin.network.remove_interface_from_router(self.a.made["router"],
                                                            port_id=port)
            self.admin.network.delete_port(port)


def settled_server(t: Tenant, server: str, ports: list[str]) -> bool:
    """ACTIVE (or ERROR) and holding every port attached to it: deleted before an
    attach is recorded, a server leaves that port behind (seen, not this test's
    subject)."""
    body = t.api.call("GET", f"{t.api.comp}/servers/{server}").json()["server"]
    attached = t.api.call("GET", f"{t.api.comp}/servers/{server}/os-interface").json()
    held = {a["port_id"] for a in attached["interfaceAttachments"]}
    return body["status"] in ("ACTIVE", "ERROR") and set(ports) <= held


def deleted(delete) -> bool:
    """Whether `delete()` went through; False while ports are still leaving (409)."""
    try:
        delete()
    except ConflictException:
        return False
    return True


def _quiet(fn) -> None:
    try:
        fn()
    except Exception as exc:  # cleanup goes on; the aio fixture reports what stayed
        print(f"cleanup: {exc}", file=sys.stderr)


# -- probes from inside a namespace ---------------------------------------------------

def curl(ns: str, url: str, *extra: str) -> str:
    return in_ns(ns, "curl", "-s", "-m", "3", *extra, url, check=False).stdout


def pings(ns: str, address: str) -> bool:
    return in_ns(ns, "ping", "-c", "3", "-i", "0.3", "-W", "1", address,
                 check=False).returncode == 0


RAW_CLIENT = """
import socket, sys
s = socket.create_connection(("169.254.169.254", 80), timeout=5)
s.sendall(sys.argv[1].encode("latin-1").decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while chunk := s.recv(65536):
        out += chunk
except socket.timeout:
    pass
sys.stdout.write(out.decode("latin-1"))
"""


def raw_metadata(ns: str, request: str) -> str:
    """The answer to `request` (escapes such as \\r\\n spelled out) sent as bytes from `ns`."""
    return in_ns(ns, sys.executable, "-c", RAW_CLIENT, request, check=False).stdout


class NotRefused(AssertionError):
    """An attack got through (so an xfail names only this, never a leak at teardown)."""


class Attempts:
    """Each attack judged on its own: every refusal that failed is reported together."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    @contextlib.contextmanager
    def attack(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        verdict = "refused"
        try:
            yield
        except Exception as exc:  # one leak must not hide the others
            verdict = "NOT REFUSED"
            self.failed.append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"{verdict:11} {name} ({time.monotonic() - t0:.1f} s)")  # shown with -s

    def judge(self) -> None:
        if self.failed:
            raise NotRefused("attacks that were not refused:\n" + "\n".join(self.failed))


def settled(w: World, n: int) -> None:
    """Wait until A's appliance runs a config read after everything done so far (a
    marker route A adds now), and A's router is ACTIVE."""
    a = w.a
    dest = str(list(ipaddress.ip_network(MARKERS).hosts())[n]) + "/32"
    a.sdk.network.update_router(a.made["router"],
                                routes=[{"destination": dest, "nexthop": a.made["ip"]}])
    wait_for(lambda: in_ns(w.appliances["a"], "ip", "route", "show", "exact", dest,
                           check=False).stdout.strip(), 60,
             f"A's appliance applies the marker route {dest}")
    wait_for(lambda: a.sdk.network.get_router(a.made["router"]).status == "ACTIVE", 60,
             "A's router ACTIVE")


def addresses_in(ns: str, cidr: str) -> list[str]:
    net = ipaddress.ip_network(cidr)
    found = []
    for line in in_ns(ns, "ip", "-o", "-4", "addr").stdout.splitlines():
        addr = line.split()[3]
        if ipaddress.ip_interface(addr).ip in net:
            found.append(line.strip())
    return found


def neutron_type(r: httpx.Response) -> str | None:
    try:
        return r.json()["NeutronError"]["type"]
    except (ValueError, KeyError, TypeError):
        return None


# -- the attacks ---------------------------------------------------------------------

def forged_router_interface(w: World) -> None:
    """Every way B could label a port of its network an interface of A's router; all
    are tried before judging, so that whatever got through is on the data plane next."""
    a, b = w.a, w.b
    forged = {"network_id": b.made["net"], "device_owner": IFACE,
              "device_id": a.made["router"]}
    answers = {}
    for ip in (b.gateway, b.spare(200)):
        r = b.api.call("POST", f"{b.api.net}/ports", {"port": dict(
            forged, fixed_ips=[{"subnet_id": b.made["sub"], "ip_address": ip}])})
        if r.status_code == 201:
            b.made.setdefault("extra_ports", []).append(r.json()["port"]["id"])
        answers[f"forged port created at {ip}"] = r
    # A plain port of B's, relabelled as an interface of A's router.
    r = b.api.call("POST", f"{b.api.net}/ports", {"port": {
        "network_id": b.made["net"],
        "fixed_ips": [{"subnet_id": b.made["sub"], "ip_address": b.spare(201)}]}})
    assert r.status_code == 201, r.text
    port_id = r.json()["port"]["id"]
    b.made.setdefault("extra_ports", []).append(port_id)
    answers[f"B's port at {b.spare(201)} relabelled"] = b.api.call(
        "PUT", f"{b.api.net}/ports/{port_id}", {"port": {"device_owner": IFACE,
                                                       "device_id": a.made["router"]}})
    # The router API itself: A's router is not B's to see.
    r = b.api.call("PUT", f"{b.api.net}/routers/{a.made['router']}/add_router_interface",
                   {"subnet_id": b.made["sub"]})
    not_refused = [f"{what}: {r.status_code} {r.text[:200]}" for what, r in answers.items()
                   if (r.status_code, neutron_type(r)) != (409, "DeviceIDNotOwnedByTenant")]
    if r.status_code != 404:
        not_refused.append(f"B adds its subnet to A's router: {r.status_code} {r.text[:200]}")
    assert not not_refused, "; ".join(not_refused)


def forged_interface_on_data_plane(w: World) -> None:
    """After attack 1, with the orchestrator settled: nothing of B's in A's appliance,
    and B's instance, routing A's network through each forged address, reaches nothing."""
    a, b = w.a, w.b
    settled(w, 1)
    leaks = [f"A's appliance has an address on B's network: {line}"
             for line in addresses_in(w.appliances["a"], b.cidr)]
    try:
        for hop in (b.spare(200), b.spare(201)):
            in_ns(b.vm_ns, "ip", "route", "replace", a.cidr, "via", hop)
            if pings(b.vm_ns, a.made["ip"]):
                leaks.append(f"B's instance pings A's instance {a.made['ip']} via {hop}")
            body = curl(b.vm_ns, f"http://{a.made['ip']}/")
            if a.made["name"] in body:
                leaks.append(f"B's instance reads A's responder at {a.made['ip']} via {hop}: "
                             f"{body.strip()!r}")
    finally:
        in_ns(b.vm_ns, "ip", "route", "del", a.cidr, check=False)
    assert not leaks, "; ".join(leaks)


def smuggled_forwarded_for(w: World) -> None:
    a, b = w.a, w.b
    path = "/openstack/latest/meta_data.json"
    answer = raw_metadata(b.vm_ns, f"GET {path} HTTP/1.1\\r\\nHost: 169.254.169.254\\r\\n"
                          f"X-Probe: 1\\nX-Forwarded-For: {a.made['ip']}\\r\\n"
                          "Connection: close\\r\\n\\r\\n")
    assert answer.startswith("HTTP/1.1 400"), \
        f"bare-LF X-Forwarded-For naming A's instance: {answer[:300]!r}"
    assert a.made["server"] not in answer and w.secret not in answer, answer[:300]


def identity_headers_ignored(w: World) -> None:
    a, b = w.a, w.b
    meta = wait_for(lambda: curl(b.vm_ns, f"{METADATA}/meta_data.json"), 30,
                    "B's instance reads metadata")
    assert b.made["server"] in meta and b.made["name"] in meta, \
        f"B does not read its own metadata: {meta[:300]!r}"
    for doc, own in (("meta_data.json", b.made["server"]), ("user_data", f"b-data-{w.run}")):
        body = curl(b.vm_ns, f"{METADATA}/{doc}",
                    "-H", f"X-Forwarded-For: {a.made['ip']}",
                    "-H", f"X-Instance-ID: {a.made['server']}",
                    "-H", f"X-Tenant-ID: {a.project}",
                    "-H", f"Forwarded: for={a.made['ip']}",
                    "-H", f"X-Real-IP: {a.made['ip']}")
        assert a.made["server"] not in body and w.secret not in body, \
            f"B's identity headers naming A read A's {doc}: {body[:300]!r}"
        assert own in body, f"B's {doc} with identity headers naming A: {body[:300]!r}"


def forged_device_id(w: World) -> None:
    a, b = w.a, w.b
    net = b.sdk.network
    meta = wait_for(lambda: curl(b.vm_ns, f"{METADATA}/meta_data.json"), 30,
                    "B's own metadata (cached by the proxy)")
    assert b.made["server"] in meta, meta[:300]
    try:
        for port in ("port", "port2"):
            net.update_port(b.made[port], device_id=a.made["server"])
        # B's first instance: its address is in the proxy's cache, still B's, never A's.
        for doc in ("meta_data.json", "user_data"):
            body = curl(b.vm_ns, f"{METADATA}/{doc}")
            assert a.made["server"] not in body and w.secret not in body, \
                f"device_id forged to A's server, cached address, {doc}: {body[:300]!r}"
        # B's second instance never asked: the proxy resolves its address afresh from
        # the forged port, as it would after its cache expired. The answer: a 404.
        for doc in ("meta_data.json", "user_data"):
            out = in_ns(b.vm2_ns, "curl", "-s", "-m", "5", "-w", "\n%{http_code}",
                        f"{METADATA}/{doc}", check=False).stdout
            body, _, code = out.rpartition("\n")
            assert a.made["server"] not in body and w.secret not in body, \
                f"device_id forged to A's server, fresh resolution, {doc}: {body[:300]!r}"
            assert code == "404", \
                f"device_id forged to A's server, fresh resolution, {doc}: {code} {body!r}"
    finally:
        for port, server in (("port", "server"), ("port2", "server2")):
            net.update_port(b.made[port], device_id=b.made[server])


def private_addresses_unreachable(w: World) -> None:
    a, b = w.a, w.b
    for what, address in (("A's instance", a.made["ip"]), ("A's router", a.gateway)):
        assert not pings(b.vm_ns, address), f"B's instance pings {what} at {address}"
    body = curl(b.vm_ns, f"http://{a.made['ip']}/")
    assert a.made["name"] not in body, f"B's instance reads A's responder: {body!r}"
    # A's own east-west still works: the refusals above are not a broken router.
    assert pings(w.appliances["a"], a.made["ip"]), "A's appliance cannot ping A's instance"


def floating_ip_still_a(w: World) -> None:
    a = w.a
    assert w.upstream is not None
    body = wait_for(lambda: curl(w.upstream.ns, f"http://{a.made['fip_ip']}/"), 30,
                    "upstream reaches A's floating IP")
    assert a.made["name"] in body, f"A's floating IP answers {body!r}, not A's instance"


# -- the tests ------------------------------------------------------------------------

def test_member_b_cannot_reach_read_or_steer_member_a_on_the_data_plane(aio):
    ports, _ = aio
    w = World(ports)
    tried = Attempts()
    try:
        w.build()
        with tried.attack("1. forged router-interface port on A's router (API)"):
            forged_router_interface(w)
        with tried.attack("1. forged router-interface port on A's router (data plane)"):
            forged_interface_on_data_plane(w)
        with tried.attack("2. metadata: bare-LF smuggled X-Forwarded-For"):
            smuggled_forwarded_for(w)
        with tried.attack("2. metadata: identity headers sent by B's instance"):
            identity_headers_ignored(w)
        with tried.attack("2. metadata: B's port device_id forged to A's server"):
            forged_device_id(w)
        with tried.attack("3. A's private addresses from B's instance"):
            settled(w, 2)
            private_addresses_unreachable(w)
        with tried.attack("3. A's floating IP after B's attempts"):
            floating_ip_still_a(w)
        tried.judge()
    finally:
        w.cleanup()


def test_member_cannot_put_an_instance_on_the_external_network(aio):
    """Issue 9, finding 2: through the compute API (boot, and os-interface on B's own
    instance), B gets no port on the external network: Nova's 403 for
    network:attach_external_network."""
    ports, _ = aio
    w = World(ports)
    b = w.b
    servers: list[str] = []
    attached: dict[str, list[str]] = {}
    tried = Attempts()
    try:
        w.build(with_routers=False)
        b.made["net"] = b.sdk.network.create_network(name="iso-b-net").id
        b.sdk.network.create_subnet(network_id=b.made["net"], cidr=b.cidr, ip_version=4)
        with tried.attack("4. B boots an instance on the external network"):
            r = b.api.call("POST", f"{b.api.comp}/servers", {"server": {
                "name": f"iso-b-ext-{w.run}", "imageRef": "astara-tenant", "flavorRef": "1",
                "networks": [{"uuid": w.ext}]}})
            if r.status_code == 202:
                servers.append(r.json()["server"]["id"])
            assert r.status_code == 403, f"{r.status_code} {r.text[:300]}"
        with tried.attack("4. B attaches its instance to the external network (os-interface)"):
            own = b.sdk.compute.create_server(name=f"iso-b-own-{w.run}",
                                              image_id="astara-tenant", flavor_id="1",
                                              networks=[{"uuid": b.made["net"]}]).id
            servers.append(own)
            wait_for(lambda: b.sdk.compute.get_server(own).status == "ACTIVE", 90,
                     "B's instance ACTIVE")
            r = b.api.call("POST", f"{b.api.comp}/servers/{own}/os-interface",
                           {"interfaceAttachment": {"net_id": w.ext}})
            if r.status_code == 200:
                attached[own] = [r.json()["interfaceAttachment"]["port_id"]]
            assert r.status_code == 403, f"{r.status_code} {r.text[:300]}"
        tried.judge()
    finally:
        # Let what the accepted requests started finish first: a server deleted while it
        # boots or plugs an interface is another test's subject.
        for server in servers:
            _quiet(lambda s=server: wait_for(
                lambda: settled_server(b, s, attached.get(s, [])), 60,
                f"B's instance {s} settled"))
        for server in servers:
            _quiet(lambda s=server: b.sdk.compute.delete_server(s))
        for server in servers:
            _quiet(lambda s=server: wait_for(lambda: b.sdk.compute.find_server(s) is None, 60,
                                             "B's instance deleted"))
        w.cleanup()
