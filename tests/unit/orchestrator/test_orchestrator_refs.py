"""Router refs a member can influence (notifications, port labels) never reach
another tenant's appliance: only UUID router ids, the tenant from the router's own
record, an escaped and verified compute lookup, own writes proven by admin."""

from __future__ import annotations

import re

import httpx

from astara.orchestrator import intake
from astara.orchestrator.clients.compute import HttpComputeAPI
from astara.orchestrator.drivers.router import NAMING
from astara.orchestrator.keys import ResourceRef

A = "0b6f5a4e-1c1d-4c4e-9e55-1f0a6a3e2b11"
B = "7c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def test_only_canonical_uuids_name_a_router():
    assert intake.is_router_id(A)
    for bad in (".*", "", "r1", A.upper() + "x", A.replace("-", ""), f"{A[:-1]}.", None, 7):
        assert not intake.is_router_id(bad)


def test_the_service_user_id_alone_does_not_silence_the_orchestrator():
    forged = {"_context_user_id": "astara-orchestrator", "_context_is_admin": False}
    assert not intake.is_own_write(forged, "astara-orchestrator")
    assert not intake.is_own_write({"_context_user_id": "astara-orchestrator"},
                                   "astara-orchestrator")
    assert intake.is_own_write({"_context_user_id": "astara-orchestrator",
                                "_context_is_admin": True}, "astara-orchestrator")


def test_a_refs_tenant_is_the_routers_never_the_messages():
    projects = {A: "tenant-a"}
    asked: list[str] = []

    def project_of(rid: str) -> str | None:
        asked.append(rid)
        return projects.get(rid)

    # B's port or floating IP names A's router: the ref is A's, so A's worker gets it.
    assert intake.owned_ref(ResourceRef("router", A, "tenant-b"), {}, project_of) == \
        ResourceRef("router", A, "tenant-a")
    known = {A: ResourceRef("router", A, "tenant-a")}
    assert intake.owned_ref(ResourceRef("router", A, "tenant-b"), known, project_of) == \
        known[A]
    assert asked == [A]  # a known router needs no lookup
    # A router already gone: no tenant to trust, none taken from the message.
    assert intake.owned_ref(ResourceRef("router", B, "tenant-b"), {}, project_of) == \
        ResourceRef("router", B, "")
    assert intake.owned_ref(ResourceRef("router", ".*", "tenant-b"), {}, project_of) is None
    assert asked == [A, B]


def _server(sid: str, name: str, meta: dict) -> dict:
    return {"id": sid, "name": name, "status": "ACTIVE", "metadata": meta, "addresses": {}}


def _compute(servers: list[dict]) -> HttpComputeAPI:
    def nova(request: httpx.Request) -> httpx.Response:
        # Like Nova: the name filter is a regular expression.
        pattern = re.compile(request.url.params["name"])
        return httpx.Response(200, json={"servers": [
            s for s in servers if pattern.search(s["name"])]})

    api = HttpComputeAPI("http://compute.invalid", {}, "img", "flv")
    api._http.close()
    api._http = httpx.Client(base_url="http://compute.invalid/v2.1",
                             transport=httpx.MockTransport(nova))
    return api


def test_find_never_returns_another_routers_appliance():
    servers = [_server("sa", f"ak-{A}", {"astara_router_id": A}),
               _server("sb", f"ak-{B}", {"astara_router_id": B})]
    api = _compute(servers)
    try:
        assert api.find(NAMING.identity(".*"), {}) is None
        assert api.find(NAMING.identity("0b6f5a4e.*"), {}) is None
        assert api.find(NAMING.identity(A), {}).id == "sa"
    finally:
        api.close()


def test_find_ignores_a_server_named_like_the_appliance_but_not_booted_for_it():
    api = _compute([_server("fake", f"ak-{A}", {}),
                    _server("other", f"ak-{A}", {"astara_router_id": B})])
    try:
        assert api.find(NAMING.identity(A), {}) is None
    finally:
        api.close()
