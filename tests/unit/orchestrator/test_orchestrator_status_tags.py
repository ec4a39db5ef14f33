"""A router's status shown as a Neutron tag (``status_tags``), where Neutron's ``status``
is read-only: against a fake Neutron that answers as neutron-server 29.0.0 did
(tools/neutron-loopback; its answers in tests/data/neutron/api/extensions.json and
tags_answers.json)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from astara.orchestrator.clients import status_tags
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.intake import normalize

API = Path(__file__).parents[2] / "data" / "neutron" / "api"
ROUTER = "c61d6b42-85ba-4431-a014-539ade35216c"


def load(name: str) -> dict:
    return json.loads((API / name).read_text())


class FakeNeutron:
    """Neutron's router status and tag routes, as captured: a status PUT is 400, a tag
    PUT 201 (body ``null``), a tag DELETE 204 (404 ``TagNotFound`` for one the router
    lacks), a tag PUT on a router that is gone 500 (Neutron 29.0.0's own answer)."""

    def __init__(self, extensions: dict, tags: list[str] | None = None):
        self.extensions = extensions
        self.tags = {ROUTER: list(tags or [])}
        self.seen: list[str] = []
        self.fail: int | None = None  # every tag call answers this, when set

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v2.0")
        self.seen.append(f"{request.method} {path}")
        captured = load("tags_answers.json")
        if request.method == "GET" and path == "/extensions":
            return httpx.Response(200, json=self.extensions)
        if request.method == "PUT" and path == f"/routers/{ROUTER}":
            return httpx.Response(400, json=captured["status_put"])
        parts = path.split("/")
        if len(parts) == 5 and parts[1] == "routers" and parts[3] == "tags":
            if self.fail is not None:
                return httpx.Response(self.fail, json={"NeutronError": {}})
            tags, tag = self.tags.get(parts[2]), parts[4]
            if tags is None:
                return httpx.Response(500, json=captured["router_gone"])
            if request.method == "PUT":
                if tag not in tags:
                    tags.append(tag)
                return httpx.Response(captured["tag_put_status"], json=None)
            if request.method == "DELETE":
                if tag not in tags:
                    return httpx.Response(404, json=captured["tag_not_found"])
                tags.remove(tag)
                return httpx.Response(204)
        return httpx.Response(404, json={"NeutronError": {"type": "HTTPNotFound"}})


def client(neutron: FakeNeutron) -> HttpNetworkAPI:
    c = HttpNetworkAPI("http://neutron.invalid:9696", "mgmt", {})
    c._http = httpx.Client(base_url="http://neutron.invalid:9696/v2.0",
                           transport=httpx.MockTransport(neutron))
    return c


def test_neutron_29_lists_the_tag_extension():
    assert status_tags.supported(load("extensions.json"))
    assert not status_tags.supported({"extensions": [{"alias": "router"}]})
    assert not status_tags.supported({"NeutronError": {}})


def test_the_status_goes_to_one_tag_beside_the_projects_own():
    neutron = FakeNeutron(load("extensions.json"), tags=["blue", "astara-status:DOWN"])
    c = client(neutron)
    try:
        c.set_router_status(ROUTER, "BUILD")
        assert neutron.seen[:3] == [f"PUT /routers/{ROUTER}", "GET /extensions",
                                    f"PUT /routers/{ROUTER}/tags/astara-status:BUILD"]
        assert neutron.tags[ROUTER] == ["blue", "astara-status:BUILD"]
        neutron.seen.clear()
        c.set_router_status(ROUTER, "ACTIVE")
    finally:
        c.close()
    # Asked once: the next change writes the tags only (one added, the others removed).
    assert neutron.seen == [f"PUT /routers/{ROUTER}/tags/astara-status:ACTIVE"] + [
        f"DELETE /routers/{ROUTER}/tags/astara-status:{s}" for s in ("BUILD", "DOWN",
                                                                     "ERROR")]
    assert neutron.tags[ROUTER] == ["blue", "astara-status:ACTIVE"]


def test_nothing_is_read_back_from_tags_the_project_can_write():
    # The project tagged its router as if it were ERROR and ACTIVE: no call reads tags.
    neutron = FakeNeutron(load("extensions.json"),
                          tags=["astara-status:ERROR", "astara-status:ACTIVE"])
    c = client(neutron)
    try:
        c.set_router_status(ROUTER, "ACTIVE")
        c.set_router_status(ROUTER, "DOWN")
    finally:
        c.close()
    assert [s for s in neutron.seen if s.startswith("GET")] == ["GET /extensions"]
    assert neutron.tags[ROUTER] == ["astara-status:DOWN"]


def test_without_the_tag_extension_the_status_stays_in_the_orchestrator(caplog):
    neutron = FakeNeutron({"extensions": [{"alias": "router"}]})
    c = client(neutron)
    try:
        with caplog.at_level(logging.WARNING):
            c.set_router_status(ROUTER, "ACTIVE")
            c.set_router_status(ROUTER, "ERROR")
    finally:
        c.close()
    assert neutron.seen == [f"PUT /routers/{ROUTER}", "GET /extensions"]
    assert [r.message for r in caplog.records if "refuses router status" in r.message] \
        and "no tag extension" in caplog.text


@pytest.mark.parametrize("answer", [403, 500])
def test_a_failed_tag_write_is_logged_once_and_written_at_the_next_change(caplog, answer):
    neutron = FakeNeutron(load("extensions.json"))
    c = client(neutron)
    try:
        c.set_router_status(ROUTER, "BUILD")  # mode found, tag written
        neutron.fail = answer
        with caplog.at_level(logging.DEBUG, logger="astara.orchestrator.clients.network"):
            c.set_router_status(ROUTER, "ACTIVE")  # not raised: the pass goes on
            c.set_router_status(ROUTER, "DOWN")
        failures = [r for r in caplog.records if "not written" in r.message]
        assert [r.levelno for r in failures] == [logging.WARNING, logging.DEBUG]
        neutron.fail = None
        c.set_router_status(ROUTER, "ACTIVE")
    finally:
        c.close()
    assert neutron.tags[ROUTER] == ["astara-status:ACTIVE"]


def test_a_router_gone_meanwhile_is_no_error(caplog):
    neutron = FakeNeutron(load("extensions.json"))
    c = client(neutron)
    gone = "0dd0dd00-0000-4000-8000-000000000000"
    try:
        c.set_router_status(ROUTER, "BUILD")
        neutron.seen.clear()
        with caplog.at_level(logging.WARNING):
            c.set_router_status(gone, "ACTIVE")  # Neutron's 500: logged, not raised
    finally:
        c.close()
    assert neutron.seen == [f"PUT /routers/{gone}/tags/astara-status:ACTIVE"]
    assert f"router {gone}: status tag astara-status:ACTIVE not written" in caplog.text


def test_our_api_takes_the_status_itself_and_no_tag_is_written():
    seen: list[str] = []

    def ours(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"router": {"id": ROUTER, "status": "ACTIVE"}})

    c = HttpNetworkAPI("http://net.invalid:9696", "mgmt", {})
    c._http = httpx.Client(base_url="http://net.invalid:9696/v2.0",
                           transport=httpx.MockTransport(ours))
    try:
        c.set_router_status(ROUTER, "ACTIVE")
        c.set_router_status(ROUTER, "DOWN")
    finally:
        c.close()
    assert seen == [f"PUT /v2.0/routers/{ROUTER}"] * 2


def test_neutrons_tag_notifications_wake_no_router():
    # Our own tag writes come back on the bus as ``tag.create.end``: they name nothing.
    message = {"event_type": "tag.create.end", "payload": {
        "obj_resource": "routers", "obj_resource_id": ROUTER,
        "tags": ["astara-status:ACTIVE"]}, "_context_project_id": "p"}
    assert normalize(message, ("router", "loadbalancer")) == []
