"""Port status and Nova's external events, against the real network API on loopback.

An admin (the orchestrator) sets an instance port ACTIVE: the API answers at once and
a recording Nova (a small server on another loopback port) then receives
``network-vif-plugged`` with the admin service headers; ACTIVE -> DOWN is
``network-vif-unplugged``. A member cannot write ``status``. Nothing is sent for other
ports, for changes that are no transition, or without ``nova_url``; a Nova that fails
or is down costs one log line, never the API call.

"Nothing was sent" is checked without waiting for time to pass: events go out in
commit order through one sender, so once a later event (a marker) has arrived, any
earlier one would have arrived before it.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import replace

import anyio
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from astara.bus.outbox import OutboxRow
from astara.db.engine import Database
from astara.network_service.app import create_app, nova_notifier, uvicorn_options
from tests.integration.conftest import Identity, make_settings
from tests.integration.network.helpers import error, name
from tests.support import Server, free_port, wait_for

NOTIFIER_LOG = "astara.network_service.nova_notifier"
PATH = "/v2.1/os-server-external-events"


class RecordingNova:
    """Answers ``POST /v2.1/os-server-external-events`` as Nova does, recording each."""

    def __init__(self):
        self.received: list[tuple[str, dict, dict]] = []  # (path, headers, body)
        self.answers: list[int] = []  # status codes for the next requests (then 200)
        self.gate: threading.Event | None = None  # set: requests wait for it to open
        self._cond = threading.Condition()
        self.app = Starlette(routes=[Route(PATH, self._events, methods=["POST"])])

    async def _events(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._cond:
            self.received.append((request.url.path, dict(request.headers), body))
            self._cond.notify_all()
            status = self.answers.pop(0) if self.answers else 200
            gate = self.gate
        if gate is not None:
            await anyio.to_thread.run_sync(gate.wait, 30)
        code = 200 if status in (200, 207) else status
        return JSONResponse({"events": [{**e, "code": code} for e in body["events"]]},
                            status_code=status)

    def events(self, tags: set[str]) -> list[dict]:
        with self._cond:
            return [e for _, _, b in self.received for e in b["events"] if e["tag"] in tags]

    def wait_for_event(self, tag: str, timeout: float = 20.0) -> tuple[dict, dict]:
        """The headers and event of the first request carrying ``tag``."""
        def found():
            for _, headers, body in self.received:
                for e in body["events"]:
                    if e["tag"] == tag:
                        return headers, e
            return None

        with self._cond:
            assert self._cond.wait_for(found, timeout), f"no Nova event for port {tag}"
            return found()


@pytest.fixture(scope="module")
def nova():
    recorder = RecordingNova()
    server = Server(recorder.app, free_port()).start()
    recorder.url = server.url
    yield recorder
    if recorder.gate is not None:
        recorder.gate.set()
    server.stop()


def _network_api(tmp_path_factory, nova_url: str):
    settings = make_settings(tmp_path_factory.mktemp("astara-nova-events"), free_port())
    settings = replace(settings, network=replace(settings.network, nova_url=nova_url,
                                                 nova_project_id="svc-project"))
    app = create_app(settings)
    server = Server(app, settings.network.bind_port, **uvicorn_options()).start()
    return settings, app, server


@pytest.fixture(scope="module")
def told(tmp_path_factory, nova):
    """A network API whose ``nova_url`` is the recording Nova."""
    settings, app, server = _network_api(tmp_path_factory, nova.url)
    server.settings = settings
    yield server
    server.stop()
    app.state.service.db.dispose()


@pytest.fixture
def admin_(told) -> Identity:
    return Identity(told, uuid.uuid4().hex, admin=True)


@pytest.fixture
def member(told) -> Identity:
    return Identity(told, uuid.uuid4().hex)


def instance_port(member: Identity, net_id: str | None = None, **fields) -> dict:
    """A port as the compute service makes one for a server (``compute:nova``)."""
    with member.http() as c:
        if net_id is None:
            net_id = c.post("/networks", json={"network": {"name": name("n")}}).json()[
                "network"]["id"]
            r = c.post("/subnets", json={"subnet": {"network_id": net_id, "ip_version": 4,
                                                    "cidr": "10.60.0.0/24"}})
            assert r.status_code == 201, r.text
        body = {"network_id": net_id, "device_owner": "compute:nova",
                "device_id": str(uuid.uuid4()), **fields}
        r = c.post("/ports", json={"port": body})
        assert r.status_code == 201, r.text
        return r.json()["port"]


def set_status(who: Identity, port_id: str, status: str):
    with who.http() as c:
        return c.put(f"/ports/{port_id}", json={"port": {"status": status}})


def marker(admin_: Identity, member: Identity, nova: RecordingNova) -> None:
    """An event sent after everything before it: once it is in, the earlier are too."""
    port = instance_port(member)
    assert set_status(admin_, port["id"], "ACTIVE").status_code == 200
    nova.wait_for_event(port["id"])


def test_admin_sets_an_instance_port_active_and_nova_hears_vif_plugged(
        admin_, member, nova, told):
    port = instance_port(member)
    assert port["status"] == "DOWN"
    r = set_status(admin_, port["id"], "ACTIVE")
    assert r.status_code == 200, r.text
    assert r.json()["port"]["status"] == "ACTIVE"
    headers, event = nova.wait_for_event(port["id"])
    assert event == {"name": "network-vif-plugged", "server_uuid": port["device_id"],
                     "tag": port["id"], "status": "completed"}
    assert headers["x-project-id"] == "svc-project"
    assert headers["x-roles"] == "admin"
    assert headers["x-user-id"] == "astara-network"
    assert headers["x-openstack-nova-api-version"] == "2.1"
    assert headers["content-type"] == "application/json"
    with member.http() as c:  # the owner sees it too
        assert c.get(f"/ports/{port['id']}").json()["port"]["status"] == "ACTIVE"
    # Back to DOWN: unplugged.
    assert set_status(admin_, port["id"], "DOWN").status_code == 200
    wait_for(lambda: len(nova.events({port["id"]})) == 2, 20, "network-vif-unplugged")
    assert nova.events({port["id"]})[1] == {
        "name": "network-vif-unplugged", "server_uuid": port["device_id"],
        "tag": port["id"], "status": "completed"}
    # Each change is also a port.update.end on the bus, as any update.
    db = Database(told.settings.database.url)
    try:
        with db.read() as s:
            bodies = [json.loads(b) for b in s.scalars(select(OutboxRow.body))]
    finally:
        db.dispose()
    updates = [b["payload"]["port"]["status"] for b in bodies
               if b["event_type"] == "port.update.end"
               and b["payload"]["port"]["id"] == port["id"]]
    assert updates == ["ACTIVE", "DOWN"]


def test_a_member_cannot_write_status_and_values_are_checked(admin_, member, nova):
    port = instance_port(member)
    r = set_status(member, port["id"], "ACTIVE")
    assert r.status_code == 403
    err = error(r)
    assert err["type"] == "PolicyNotAuthorized"
    assert err["message"] == "(rule:update_port:status) is disallowed by policy."
    r = set_status(admin_, port["id"], "UP")  # Neutron's validator message
    assert r.status_code == 400 and error(r)["type"] == "HTTPBadRequest"
    assert "'UP' is not in [ACTIVE, BUILD, DOWN, ERROR]" in error(r)["message"]
    with member.http() as c:
        r = c.post("/ports", json={"port": {"network_id": port["network_id"],
                                            "status": "ACTIVE"}})
        assert r.status_code == 400 and error(r)["type"] == "HTTPBadRequest"
        assert c.get(f"/ports/{port['id']}").json()["port"]["status"] == "DOWN"
    marker(admin_, member, nova)
    assert nova.events({port["id"]}) == []


def test_no_event_for_other_ports_or_changes_that_are_no_transition(admin_, member, nova):
    plain = instance_port(member, device_owner="", device_id="")
    dhcp = instance_port(member, device_owner="network:dhcp")
    no_server = instance_port(member, device_id="")
    again = instance_port(member)
    failed = instance_port(member)
    for port in (plain, dhcp, no_server, again):
        assert set_status(admin_, port["id"], "ACTIVE").status_code == 200
    assert set_status(admin_, again["id"], "ACTIVE").status_code == 200  # no change
    with admin_.http() as c:  # an update that leaves the status alone
        assert c.put(f"/ports/{again['id']}", json={"port": {"name": "x"}}).status_code == 200
    assert set_status(admin_, again["id"], "ERROR").status_code == 200  # ACTIVE -> ERROR
    assert set_status(admin_, failed["id"], "ERROR").status_code == 200  # DOWN -> ERROR
    marker(admin_, member, nova)
    ids = {p["id"] for p in (plain, dhcp, no_server, again, failed)}
    assert [(e["tag"], e["name"]) for e in nova.events(ids)] == [
        (again["id"], "network-vif-plugged")]


def test_a_port_unbound_or_moved_goes_down_and_nova_hears_it(admin_, member, nova):
    port = instance_port(member)
    with admin_.http() as c:
        r = c.put(f"/ports/{port['id']}", json={"port": {"binding:host_id": "host-a"}})
        assert r.json()["port"]["status"] == "DOWN"  # bound, not yet wired
        assert set_status(admin_, port["id"], "ACTIVE").status_code == 200
        r = c.put(f"/ports/{port['id']}", json={"port": {"binding:host_id": "host-b"}})
        assert r.json()["port"]["status"] == "DOWN"
    wait_for(lambda: len(nova.events({port["id"]})) == 2, 20, "two events")
    assert [e["name"] for e in nova.events({port["id"]})] == [
        "network-vif-plugged", "network-vif-unplugged"]


def test_a_slow_nova_does_not_hold_the_api_call(admin_, member, nova, caplog):
    caplog.set_level(logging.WARNING, logger=NOTIFIER_LOG)
    port = instance_port(member)
    nova.gate = gate = threading.Event()
    try:
        assert set_status(admin_, port["id"], "ACTIVE").status_code == 200
        nova.wait_for_event(port["id"])  # Nova has it and has not answered yet
    finally:
        nova.gate = None
        gate.set()
    marker(admin_, member, nova)
    assert not [r for r in caplog.records if r.name == NOTIFIER_LOG]


def test_a_failing_nova_costs_one_log_line_not_the_call(admin_, member, nova, caplog):
    caplog.set_level(logging.WARNING, logger=NOTIFIER_LOG)
    port = instance_port(member)
    nova.answers.append(500)
    r = set_status(admin_, port["id"], "ACTIVE")
    assert r.status_code == 200 and r.json()["port"]["status"] == "ACTIVE"
    marker(admin_, member, nova)  # sent after the failed one: its line is written
    lines = [r.getMessage() for r in caplog.records if r.name == NOTIFIER_LOG]
    assert len(lines) == 1, lines
    assert port["id"] in lines[0] and port["device_id"] in lines[0] and "500" in lines[0]


def test_nova_down_costs_one_log_line_not_the_call(tmp_path_factory, caplog):
    caplog.set_level(logging.WARNING, logger=NOTIFIER_LOG)
    settings, app, server = _network_api(tmp_path_factory, f"http://127.0.0.1:{free_port()}/")
    try:
        admin_ = Identity(server, uuid.uuid4().hex, admin=True)
        port = instance_port(Identity(server, uuid.uuid4().hex))
        r = set_status(admin_, port["id"], "ACTIVE")
        assert r.status_code == 200 and r.json()["port"]["status"] == "ACTIVE"
        line = wait_for(lambda: [r.getMessage() for r in caplog.records
                                 if r.name == NOTIFIER_LOG], 20, "the log line")
    finally:
        server.stop()  # the sender stops with the app: no more lines after this
        app.state.service.db.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == NOTIFIER_LOG]
    assert lines == line and len(lines) == 1
    assert port["id"] in lines[0] and port["device_id"] in lines[0]


def test_without_nova_url_nothing_is_sent_and_status_still_works(
        network_api, network_settings, admin, demo):
    # The shared API runs on the defaults: no nova_url, so no notifier at all.
    assert network_settings.network.nova_url == ""
    assert nova_notifier(network_settings) is None
    port = instance_port(demo)
    r = set_status(admin, port["id"], "ACTIVE")
    assert r.status_code == 200 and r.json()["port"]["status"] == "ACTIVE"
    assert set_status(admin, port["id"], "DOWN").json()["port"]["status"] == "DOWN"
