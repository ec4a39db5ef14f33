"""Small builders shared by the network API tests (through openstacksdk)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from astara.bus.outbox import OutboxPublisher
from astara.common.settings import defaults
from astara.db import migrate
from astara.network_service.service import NetworkService
from tests.integration.conftest import fresh_database


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def in_process_service(tmp_path: Path) -> Iterator[NetworkService]:
    """The network service over a fresh database, called in this process (no HTTP)."""
    settings = defaults(tmp_path)
    db = migrate.open_database(replace(settings.database, url=fresh_database(tmp_path)))
    try:
        yield NetworkService(db, OutboxPublisher(), settings.network)
    finally:
        db.dispose()


def external_network(admin, cidr: str = "172.24.4.0/24", pool=("172.24.4.10", "172.24.4.200")):
    net = admin.sdk.network.create_network(name=name("public"), is_router_external=True)
    sub = admin.sdk.network.create_subnet(
        network_id=net.id, cidr=cidr, ip_version=4, gateway_ip=cidr.rsplit(".", 1)[0] + ".1",
        allocation_pools=[{"start": pool[0], "end": pool[1]}], is_dhcp_enabled=False)
    return net, sub


def tenant_network(who, cidr: str = "10.0.0.0/24", **subnet_args):
    net = who.sdk.network.create_network(name=name("private"))
    sub = who.sdk.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4,
                                        **subnet_args)
    return net, sub


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}
    return body["NeutronError"]
