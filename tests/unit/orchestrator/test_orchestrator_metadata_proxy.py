"""The orchestrator's metadata proxy: who may ask, which instance, how it is signed.

The instance's address is taken only from the one X-Forwarded-For the appliance's
proxy sets; the instance and its project only from the network API's port record.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import httpx

from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.metadata_proxy import (
    Identity,
    InstanceResolver,
    RouterFinder,
    build_app,
    identify,
    instance_address,
    sign,
)

ROUTER = "r1"
MODEL = RouterModel(
    router={"id": ROUTER, "project_id": "t1"},
    ports=[{"id": "rp", "network_id": "n1", "device_owner": "network:router_interface",
            "mac_address": "fa:16:3e:00:00:01", "fixed_ips": []}],
    subnets={}, networks={},
    tenant_ports=[
        {"id": "p1", "network_id": "n1", "device_id": "vm-1", "mac_address": "x",
         "project_id": "t1", "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]},
        {"id": "p2", "network_id": "elsewhere", "device_id": "vm-2", "mac_address": "y",
         "project_id": "t1", "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.6"}]},
        {"id": "p3", "network_id": "n1", "device_id": "", "mac_address": "z",
         "project_id": "t1", "fixed_ips": [{"subnet_id": "s", "ip_address": "fd00::7"}]},
    ])


class Network:
    def __init__(self, model: RouterModel = MODEL):
        self.calls = 0
        self.model = model

    def router_model(self, router_id):
        self.calls += 1
        return self.model if router_id == ROUTER else None


def test_signature_is_nova_style_hmac():
    assert sign("s3cret", "vm-1") == hmac.new(b"s3cret", b"vm-1", hashlib.sha256).hexdigest()


def test_resolver_finds_only_instances_behind_the_router_and_caches():
    net = Network()
    clock = [0.0]
    r = InstanceResolver(net, clock=lambda: clock[0])
    vm1 = Identity("vm-1", "t1", "p1", "10.0.0.5")
    assert r.resolve(ROUTER, "10.0.0.5") == vm1
    assert r.resolve(ROUTER, "10.0.0.6") is None  # not on one of its networks
    assert r.resolve(ROUTER, "10.0.0.5") == vm1
    assert net.calls == 2
    clock[0] = 61
    r.resolve(ROUTER, "10.0.0.5")
    assert net.calls == 3


def run_proxy(source: str, headers: dict | list, upstream_seen: list,
              routers_by_mgmt=None) -> httpx.Response:
    def upstream(request: httpx.Request) -> httpx.Response:
        upstream_seen.append(request)
        return httpx.Response(200, text="meta-data-body")

    app = build_app(routers_by_mgmt or (lambda addr: ROUTER if addr == "fdca::10" else None),
                    InstanceResolver(Network()), "http://meta.test", "s3cret",
                    transport=httpx.MockTransport(upstream))

    async def go():
        asgi = httpx.ASGITransport(app=app, client=(source, 40000))
        async with httpx.AsyncClient(transport=asgi, base_url="http://proxy") as c:
            return await c.get("/latest/meta-data/instance-id", headers=headers)

    return asyncio.run(go())


def test_request_from_a_managed_appliance_is_signed_and_forwarded():
    seen: list = []
    r = run_proxy("fdca::10", {"X-Forwarded-For": "10.0.0.5"}, seen)
    assert r.status_code == 200 and r.text == "meta-data-body"
    [req] = seen
    assert req.url.path == "/latest/meta-data/instance-id"
    assert req.headers["X-Instance-ID"] == "vm-1"
    assert req.headers["X-Instance-ID-Signature"] == sign("s3cret", "vm-1")
    assert req.headers["X-Tenant-ID"] == "t1"  # the port's project
    assert req.headers["X-Astara-Port-ID"] == "p1"
    assert req.headers["X-Forwarded-For"] == "10.0.0.5"


def test_request_from_anywhere_else_is_refused():
    seen: list = []
    assert run_proxy("fdca::99", {"X-Forwarded-For": "10.0.0.5"}, seen).status_code == 403
    assert seen == []


def test_unknown_instance_address_is_not_found():
    seen: list = []
    assert run_proxy("fdca::10", {"X-Forwarded-For": "10.0.0.99"}, seen).status_code == 404
    assert seen == []


def test_identity_headers_other_than_the_appliances_are_ignored():
    seen: list = []
    spoofed = {"X-Forwarded-For": "10.0.0.5", "X-Tenant-ID": "t2", "X-Instance-ID": "vm-2",
               "X-Instance-ID-Signature": sign("s3cret", "vm-2"), "X-Astara-Port-ID": "p2",
               "Forwarded": "for=10.0.0.6", "X-Real-IP": "10.0.0.6"}
    assert run_proxy("fdca::10", spoofed, seen).status_code == 200
    [req] = seen
    assert [req.headers.get_list(h) for h in ("X-Instance-ID", "X-Tenant-ID",
                                               "X-Astara-Port-ID", "X-Forwarded-For")] == \
        [["vm-1"], ["t1"], ["p1"], ["10.0.0.5"]]
    assert "forwarded" not in req.headers and "x-real-ip" not in req.headers


def test_anything_but_one_forwarded_address_is_refused():
    for headers in ([("X-Forwarded-For", "10.0.0.6"), ("X-Forwarded-For", "10.0.0.5")],
                    [("X-Forwarded-For", "10.0.0.6, 10.0.0.5")], [],
                    [("X-Forwarded-For", "vm-1")], [("X-Forwarded-For", "fd00::7%eth0")]):
        seen: list = []
        assert run_proxy("fdca::10", headers, seen).status_code == 400, headers
        assert seen == []


def test_instance_address_is_one_normalized_ip():
    assert instance_address(["10.0.0.5"]) == "10.0.0.5"
    assert instance_address([" fd00:0::7 "]) == "fd00::7"
    assert instance_address(["10.0.0.5", "10.0.0.5"]) is None
    assert instance_address(["10.0.0.5,10.0.0.6"]) is None


def test_identity_comes_from_the_port_record():
    assert identify(MODEL, "10.0.0.5") == Identity("vm-1", "t1", "p1", "10.0.0.5")
    assert identify(MODEL, "10.0.0.6") is None  # behind another router
    assert identify(MODEL, "fd00::7") is None  # a port that names no instance


def test_a_changed_device_id_is_sent_with_the_ports_own_project_after_expiry():
    """B points its port's device_id at A's server: before expiry the cached entry still
    names B's instance; after, A's id goes out with B's project (the metadata API then
    refuses it: tests/integration/compute/test_compute_metadata.py)."""
    ports = [dict(p) for p in MODEL.tenant_ports]
    net = Network(RouterModel(MODEL.router, MODEL.ports, {}, {}, tenant_ports=ports))
    clock = [0.0]
    r = InstanceResolver(net, clock=lambda: clock[0])
    assert r.resolve(ROUTER, "10.0.0.5") == Identity("vm-1", "t1", "p1", "10.0.0.5")
    ports[0].update(device_id="vm-of-a")
    clock[0] = 59.9
    assert r.resolve(ROUTER, "10.0.0.5").instance_id == "vm-1"
    clock[0] = 60.0
    assert r.resolve(ROUTER, "10.0.0.5") == Identity("vm-of-a", "t1", "p1", "10.0.0.5")


class ManagementPorts:
    """The network API's management ports: address -> router (``device_id``)."""

    def __init__(self, ports: dict[str, str], down: bool = False):
        self.ports, self.down, self.calls = ports, down, 0

    def router_by_management_address(self, address):
        self.calls += 1
        if self.down:
            raise RuntimeError("network API unreachable")
        return self.ports.get(address)


def test_an_appliance_of_a_router_another_member_holds_is_answered():
    """One shared metadata address pinned to this machine: the appliance's router is held
    by another member's workers, not ours, and is found by its management port."""
    seen: list = []
    finder = RouterFinder(lambda addr: None, ManagementPorts({"fdca::20": ROUTER}))
    r = run_proxy("fdca::20", {"X-Forwarded-For": "10.0.0.5"}, seen, finder.find)
    assert r.status_code == 200
    [req] = seen
    assert req.headers["X-Instance-ID"] == "vm-1"
    assert req.headers["X-Instance-ID-Signature"] == sign("s3cret", "vm-1")
    seen.clear()
    assert run_proxy("fdca::21", {"X-Forwarded-For": "10.0.0.5"}, seen,
                     finder.find).status_code == 403
    assert seen == []


def test_a_router_whose_management_port_cannot_be_read_is_unavailable():
    seen: list = []
    finder = RouterFinder(lambda addr: None, ManagementPorts({}, down=True))
    assert run_proxy("fdca::20", {"X-Forwarded-For": "10.0.0.5"}, seen,
                     finder.find).status_code == 503
    assert seen == []


def test_router_finder_asks_for_held_routers_first_and_never_keeps_an_answer():
    ports = ManagementPorts({"fdca::20": "r-elsewhere"})
    finder = RouterFinder(lambda addr: ROUTER if addr == "fdca::10" else None, ports)
    assert finder.find("fdca::10") == ROUTER
    assert ports.calls == 0
    assert [finder.find("fdca::20"), finder.find("fdca::99")] == ["r-elsewhere", None]
    ports.ports["fdca::30"] = "r-pair.ha1"  # an HA pair's member 1: its router's
    assert finder.find("fdca::30") == "r-pair"
    ports.ports = {"fdca::20": "r-new"}  # the address freed and given to another router
    assert finder.find("fdca::20") == "r-new"  # at once: no answer kept
    assert ports.calls == 4
