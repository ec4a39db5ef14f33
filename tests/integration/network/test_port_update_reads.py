"""A port update (the compute API's binding, three per appliance boot) reads the port
once, and an admin's binding reads nothing it does not need; a relabelling by an admin
still records (and drops) the management port's association, and a new management port
is recorded without a read of the associations."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from astara.network_service import attributes, query
from astara.network_service.context import RequestContext
from astara.network_service.port_policy import MGMT
from astara.network_service.resources import router_ports
from astara.network_service.service import NetworkService
from tests.integration.network.helpers import in_process_service

ADMIN = RequestContext.from_headers({"x-project-id": "svc", "x-roles": "admin"})
MEMBER = RequestContext.from_headers({"x-project-id": "p1", "x-roles": "member"})


@pytest.fixture
def service(tmp_path):
    with in_process_service(tmp_path) as svc:
        yield svc


def create(service: NetworkService, ctx: RequestContext, plural: str, body: dict) -> dict:
    resource = attributes.RESOURCES[plural]
    item = attributes.parse_body(resource, {resource.name: body}, ctx, create=True)
    return service.create(ctx, plural, [item], [body])[0]


def update(service: NetworkService, ctx: RequestContext, port_id: str, body: dict) -> dict:
    item = attributes.parse_body(attributes.PORT, {"port": body}, ctx, create=False)
    return service.update(ctx, "ports", port_id, item, body)


class Reads:
    """The SELECTs run on ``engine`` while inside, by the first table they name."""

    def __init__(self, engine):
        self.engine = engine
        self.tables: list[str] = []

    def _seen(self, conn, cursor, statement, *_):
        found = re.match(r"\s*SELECT\b.*?\bFROM\s+(\w+)", statement, re.S)
        if found:
            self.tables.append(found[1])

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_):
        event.remove(self.engine, "before_cursor_execute", self._seen)


def a_port(service: NetworkService, ctx: RequestContext, cidr: str) -> dict:
    net = create(service, ctx, "networks", {"name": "n"})
    create(service, ctx, "subnets", {"network_id": net["id"], "ip_version": 4, "cidr": cidr})
    return create(service, ctx, "ports", {"network_id": net["id"]})


def test_an_admin_binding_reads_the_port_once_and_nothing_else(service):
    port = a_port(service, ADMIN, "10.7.0.0/24")
    with Reads(service.db.engine) as reads:
        bound = update(service, ADMIN, port["id"], {"binding:host_id": "host-1"})
    # the port and its addresses, once: neither its network nor the router records
    assert sorted(reads.tables) == ["net_ip_allocations", "net_ports"]
    assert (bound["binding:host_id"], bound["status"]) == ("host-1", "DOWN")
    assert bound["fixed_ips"] == port["fixed_ips"]
    assert service.show(ADMIN, "ports", port["id"]) == bound


def test_a_members_update_reads_its_port_once(service):
    port = a_port(service, MEMBER, "10.7.1.0/24")
    with Reads(service.db.engine) as reads:
        renamed = update(service, MEMBER, port["id"], {"name": "renamed"})
    assert reads.tables.count("net_ports") == 1
    assert "net_networks" in reads.tables  # a member's attributes are checked on it
    assert renamed["name"] == "renamed"
    # and the member's rights still hold: an admin-only attribute is refused
    with pytest.raises(Exception, match="binding:host_id"):
        update(service, MEMBER, port["id"], {"binding:host_id": "host-1"})


def test_an_admin_relabelling_still_records_the_management_port(service):
    router = create(service, ADMIN, "routers", {"name": "r"})
    port = a_port(service, ADMIN, "10.7.2.0/24")
    with service.db.read() as s:
        assert router_ports.role_of(s, port["id"]) is None
    update(service, ADMIN, port["id"], {"device_owner": MGMT, "device_id": router["id"]})
    update(service, ADMIN, port["id"], {"binding:host_id": "host-1"})
    with service.db.read() as s:
        assert router_ports.role_of(s, port["id"]) == (router["id"], MGMT)
    update(service, ADMIN, port["id"], {"device_owner": ""})
    with service.db.read() as s:
        assert router_ports.role_of(s, port["id"]) is None


def test_an_admins_management_port_is_recorded_without_asking_for_its_role(service):
    """A port just made has no association yet: the create records the management port
    without reading the associations first."""
    router = create(service, ADMIN, "routers", {"name": "r"})
    net = create(service, ADMIN, "networks", {"name": "mgmt"})
    create(service, ADMIN, "subnets", {"network_id": net["id"], "ip_version": 4,
                                       "cidr": "10.7.3.0/24"})
    with Reads(service.db.engine) as reads:
        port = create(service, ADMIN, "ports", {"network_id": net["id"], "device_owner": MGMT,
                                                "device_id": router["id"]})
    assert "net_router_ports" not in reads.tables
    with service.db.read() as s:
        assert router_ports.role_of(s, port["id"]) == (router["id"], MGMT)


def test_a_devices_ports_are_found_through_the_devices_index(service):
    """The orchestrator's look-up of a router's management port (device, owner and
    network) finds it through the device's index, not by walking the management
    network's ports (one per router): on SQLite, without statistics, the plan says so.
    The other filters still apply."""
    router = create(service, ADMIN, "routers", {"name": "r"})
    net = create(service, ADMIN, "networks", {"name": "mgmt"})
    other = create(service, ADMIN, "networks", {"name": "other"})
    for n, cidr in ((net, "10.7.4.0/24"), (other, "10.7.5.0/24")):
        create(service, ADMIN, "subnets", {"network_id": n["id"], "ip_version": 4,
                                           "cidr": cidr})
    mgmt = create(service, ADMIN, "ports", {"network_id": net["id"], "device_owner": MGMT,
                                            "device_id": router["id"]})
    create(service, ADMIN, "ports", {"network_id": other["id"], "device_owner": MGMT,
                                     "device_id": router["id"]})
    create(service, ADMIN, "ports", {"network_id": net["id"], "device_owner": "compute:nova",
                                     "device_id": router["id"]})
    for _ in range(3):
        create(service, ADMIN, "ports", {"network_id": net["id"], "device_owner": MGMT,
                                         "device_id": new_router(service)})
    statements = []

    def seen(conn, cursor, statement, parameters, *_):
        if re.match(r"\s*SELECT\b.*?\bFROM\s+net_ports\b", statement, re.S):
            statements.append((statement, parameters))

    q = query.ListQuery(filters={"device_id": [router["id"]], "device_owner": [MGMT],
                                 "network_id": [net["id"]]})
    event.listen(service.db.engine, "before_cursor_execute", seen)
    try:
        found, _ = service.list(ADMIN, "ports", q)
    finally:
        event.remove(service.db.engine, "before_cursor_execute", seen)
    assert [p["id"] for p in found] == [mgmt["id"]]
    if service.db.engine.dialect.name != "sqlite":
        return
    statement, parameters = statements[0]
    with service.db.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", parameters))
    assert "ix_net_ports_device_id" in plan, plan


def new_router(service: NetworkService) -> str:
    return create(service, ADMIN, "routers", {"name": "r"})["id"]
