"""The load-balancer API for integration tests, beside the session's network API.

Same database as the network API (SQLite, or PostgreSQL with
``ASTARA_TEST_DATABASE_URL``); VIP ports are made through the network API over HTTP.
Clients are openstacksdk connections (``load_balancer`` and ``network`` proxies) with
noauth identity headers; each test gets fresh project ids.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx
import pytest

from astara.loadbalancer_service.app import create_app
from astara.loadbalancer_service.settings import defaults as lb_defaults
from tests.support import Server, free_port

ROLES = {"member": "member,reader", "reader": "reader", "admin": "admin,member,reader"}


@pytest.fixture(scope="session")
def lb_api(network_api, network_settings):
    settings = replace(lb_defaults(network_settings), network_url=network_api.url,
                       bind_port=free_port())
    app = create_app(network_settings, settings)
    server = Server(app, settings.bind_port).start()
    yield server
    server.stop()
    app.state.service.db.dispose()


class Who:
    def __init__(self, lb_api: Server, network_api: Server, project: str, role: str):
        self.project = project
        self.headers = {"X-Project-Id": project, "X-User-Id": f"user-{project[:8]}",
                        "X-Roles": ROLES[role]}
        self.lb_url = lb_api.url
        self.network_url = network_api.url
        self._conn = None

    @property
    def sdk(self):
        if self._conn is None:
            import openstack
            from keystoneauth1 import noauth, session

            sess = session.Session(auth=noauth.NoAuth(), additional_headers=self.headers)
            self._conn = openstack.connection.Connection(
                session=sess, region_name="RegionOne",
                load_balancer_endpoint_override=f"{self.lb_url}/",
                network_endpoint_override=f"{self.network_url}/")
        return self._conn

    @property
    def lb(self):
        return self.sdk.load_balancer

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.lb_url}/v2", headers=self.headers)

    def reader(self) -> Who:
        """A reader of the same project."""
        return Who.__new__(Who)._init_like(self, "reader")

    def _init_like(self, other: Who, role: str) -> Who:
        self.project = other.project
        self.headers = {**other.headers, "X-Roles": ROLES[role]}
        self.lb_url, self.network_url, self._conn = other.lb_url, other.network_url, None
        return self


@pytest.fixture
def alice(lb_api, network_api) -> Who:
    return Who(lb_api, network_api, uuid.uuid4().hex, "member")


@pytest.fixture
def bob(lb_api, network_api) -> Who:
    return Who(lb_api, network_api, uuid.uuid4().hex, "member")


@pytest.fixture
def boss(lb_api, network_api) -> Who:
    return Who(lb_api, network_api, uuid.uuid4().hex, "admin")


@pytest.fixture
def subnet(alice):
    """A network and subnet of alice's, made through the network API."""
    net = alice.sdk.network.create_network(name="lb-net")
    return alice.sdk.network.create_subnet(network_id=net.id, cidr="10.20.0.0/24",
                                           ip_version=4)


def make_graph(who: Who, subnet, name: str = "lb1", protocol: str = "HTTP", port: int = 80,
               member_address: str = "10.20.0.30") -> dict:
    """A load balancer with a listener, its default pool, a member and a monitor of
    ``who``'s, named as capture 031's."""
    lb = who.lb.create_load_balancer(vip_subnet_id=subnet.id, name=name)
    listener = who.lb.create_listener(loadbalancer_id=lb.id, protocol=protocol,
                                      protocol_port=port, name=f"{protocol.lower()}{port}")
    pool = who.lb.create_pool(listener_id=listener.id, protocol=protocol,
                              lb_algorithm="ROUND_ROBIN", name="pool-rr")
    member = who.lb.create_member(pool, address=member_address, protocol_port=8080,
                                  name="m5")
    monitor = who.lb.create_health_monitor(pool_id=pool.id, type=protocol, delay=2,
                                           timeout=1, max_retries=2, name="hm-http")
    return {"lb": lb, "listener": listener, "pool": pool, "member": member,
            "monitor": monitor}
