"""A new port written with Core INSERTs (``persist.insert_new``, the port-create hot path
on SQLite) is the same in the database and in the session as one added and flushed."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import inspect, select

from astara.network_service import attributes
from astara.network_service import models as m
from astara.network_service.context import RequestContext
from astara.network_service.resources import persist
from astara.network_service.service import NetworkService
from tests.integration.conftest import PG_URL
from tests.integration.network.helpers import in_process_service

CTX = RequestContext.from_headers({"x-project-id": "p1", "x-roles": "member"})


@pytest.fixture
def service(tmp_path):
    with in_process_service(tmp_path) as svc:
        yield svc


def create(service: NetworkService, plural: str, body: dict) -> dict:
    resource = attributes.RESOURCES[plural]
    item = attributes.parse_body(resource, {resource.name: body}, CTX, create=True)
    return service.create(CTX, plural, [item], [body])[0]


def new_port(network_id: str, subnet_id: str, address: str, mac: str) -> m.Port:
    # binding_host_id and allowed_address_pairs left unset: their column defaults apply.
    t = datetime(2026, 1, 2, 3, 4, 5)
    row = m.Port(id=f"port-{mac}", project_id="p1", network_id=network_id, name="n",
                 description="", mac_address=mac, admin_state_up=True, status="DOWN",
                 device_id="d", device_owner="compute:nova", port_security_enabled=True,
                 tags=[], created_at=t, updated_at=t, revision_number=0, fixed_ips=[])
    row.fixed_ips.append(m.IPAllocation(port_id=row.id, subnet_id=subnet_id,
                                        network_id=network_id, ip_address=address, position=0))
    return row


def stored(s, port_id: str) -> tuple[dict, list[dict]]:
    conn = s.connection()
    port = dict(conn.execute(select(m.Port.__table__).where(m.Port.id == port_id)).one()._mapping)
    addresses = [dict(r._mapping) for r in conn.execute(
        select(m.IPAllocation.__table__).where(m.IPAllocation.port_id == port_id))]
    return port, addresses


def test_insert_new_writes_what_a_flush_writes(service):
    net = create(service, "networks", {"name": "n"})
    sub = create(service, "subnets", {"network_id": net["id"], "ip_version": 4,
                                      "cidr": "10.9.0.0/24"})
    with service.db.write() as s:
        fast = new_port(net["id"], sub["id"], "10.9.0.7", "fa:16:3e:00:00:01")
        persist.insert_new(s, fast)
        assert not (s.new or s.dirty or s.deleted)  # nothing left for a flush
        assert inspect(fast).persistent
        assert all(inspect(a).persistent and a.id is not None for a in fast.fixed_ips)
        # The session knows it: a lookup is answered from it, with no SELECT.
        assert s.get(m.Port, fast.id) is fast
        slow = new_port(net["id"], sub["id"], "10.9.0.8", "fa:16:3e:00:00:02")
        s.add(slow)
        s.flush()
        (fast_row, fast_ips), (slow_row, slow_ips) = stored(s, fast.id), stored(s, slow.id)
        # Defaults of the columns left unset, read back on first use as after a flush.
        assert (fast.binding_host_id, fast.allowed_address_pairs) == ("", [])
        assert fast.fixed_ips[0].id == fast_ips[0]["id"]
    differ = {"id", "mac_address"}
    assert {k: v for k, v in fast_row.items() if k not in differ} == \
        {k: v for k, v in slow_row.items() if k not in differ}
    assert [{**a, "id": 0, "port_id": "", "ip_address": ""} for a in fast_ips] == \
        [{**a, "id": 0, "port_id": "", "ip_address": ""} for a in slow_ips]


def test_a_created_port_reads_back_as_it_was_answered(service):
    """Two automatic addresses (IPv4 and stateful DHCPv6): the answer to the create is
    what a later read of the stored rows shows, addresses in their order."""
    net = create(service, "networks", {"name": "n"})
    v4 = create(service, "subnets", {"network_id": net["id"], "ip_version": 4,
                                     "cidr": "10.9.1.0/24"})
    v6 = create(service, "subnets", {"network_id": net["id"], "ip_version": 6,
                                     "cidr": "fd00:9::/64", "ipv6_address_mode": "dhcpv6-stateful",
                                     "ipv6_ra_mode": "dhcpv6-stateful"})
    first = create(service, "ports", {"network_id": net["id"], "name": "a",
                                      "allowed_address_pairs": [{"ip_address": "10.9.9.9"}]})
    second = create(service, "ports", {"network_id": net["id"]})
    assert [(ip["subnet_id"], ip["ip_address"]) for ip in first["fixed_ips"]] == [
        (v4["id"], "10.9.1.2"), (v6["id"], "fd00:9::1")]
    assert [ip["ip_address"] for ip in second["fixed_ips"]] == ["10.9.1.3", "fd00:9::2"]
    for port in (first, second):
        assert service.show(CTX, "ports", port["id"]) == port


def test_the_hot_path_is_taken_on_sqlite_only(service, monkeypatch):
    """On SQLite (one writer) a port with automatic addresses takes it; on PostgreSQL
    an address can be lost to a concurrent writer: the savepoint path is kept."""
    net = create(service, "networks", {"name": "n"})
    create(service, "subnets", {"network_id": net["id"], "ip_version": 4, "cidr": "10.9.2.0/24"})
    written = []
    real = persist.insert_new
    monkeypatch.setattr(persist, "insert_new", lambda s, port: written.append(port.id)
                        or real(s, port))
    port = create(service, "ports", {"network_id": net["id"]})
    assert written == ([] if PG_URL else [port["id"]])
