"""The orchestrator's metadata proxy: who may ask, which instance, how it is signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import httpx

from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.metadata_proxy import InstanceResolver, build_app, sign

ROUTER = "r1"
MODEL = RouterModel(
    router={"id": ROUTER, "project_id": "t1"},
    ports=[{"id": "rp", "network_id": "n1", "device_owner": "network:router_interface",
            "mac_address": "fa:16:3e:00:00:01", "fixed_ips": []}],
    subnets={}, networks={},
    tenant_ports=[
        {"id": "p1", "network_id": "n1", "device_id": "vm-1", "mac_address": "x",
         "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]},
        {"id": "p2", "network_id": "elsewhere", "device_id": "vm-2", "mac_address": "y",
         "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.6"}]},
    ])


class Network:
    def __init__(self):
        self.calls = 0

    def router_model(self, router_id):
        self.calls += 1
        return MODEL if router_id == ROUTER else None


def test_signature_is_nova_style_hmac():
    assert sign("s3cret", "vm-1") == hmac.new(b"s3cret", b"vm-1", hashlib.sha256).hexdigest()


def test_resolver_finds_only_instances_behind_the_router_and_caches():
    net = Network()
    clock = [0.0]
    r = InstanceResolver(net, clock=lambda: clock[0])
    assert r.resolve(ROUTER, "10.0.0.5") == "vm-1"
    assert r.resolve(ROUTER, "10.0.0.6") is None  # not on one of its networks
    assert r.resolve(ROUTER, "10.0.0.5") == "vm-1"
    assert net.calls == 2
    clock[0] = 61
    r.resolve(ROUTER, "10.0.0.5")
    assert net.calls == 3


def run_proxy(source: str, headers: dict, upstream_seen: list) -> httpx.Response:
    def upstream(request: httpx.Request) -> httpx.Response:
        upstream_seen.append(request)
        return httpx.Response(200, text="meta-data-body")

    app = build_app(lambda addr: ROUTER if addr == "fdca::10" else None,
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


def test_request_from_anywhere_else_is_refused():
    seen: list = []
    assert run_proxy("fdca::99", {"X-Forwarded-For": "10.0.0.5"}, seen).status_code == 403
    assert seen == []


def test_unknown_instance_address_is_not_found():
    seen: list = []
    assert run_proxy("fdca::10", {"X-Forwarded-For": "10.0.0.99"}, seen).status_code == 404
    assert seen == []
