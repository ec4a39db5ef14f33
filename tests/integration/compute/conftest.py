"""A compute service for integration tests: API, dispatcher and an agent, on loopback.

The compute API runs beside the shared network API (same database); ports are
created through the network service's REST API. The agent runs in a thread with the
in-tree ``FakeBackend`` (no root needed: the netns backend has functional tests);
the dispatcher runs in another thread. Clients are openstacksdk connections.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace

import pytest
from tests.support import Server, compute_threads, free_port

from astara.common.settings import sqlite_url
from astara.compute_service.agent.backend import FakeBackend
from astara.compute_service.agent.worker import Agent
from astara.compute_service.api.app import create_app
from astara.compute_service.dispatcher import consumer as dispatcher_mod
from astara.compute_service.settings import ComputeSettings, retry_policy
from astara.compute_service.settings import defaults as compute_defaults
from astara.db import migrate
from astara.db.engine import Database


@pytest.fixture
def db(tmp_path):
    """A migrated SQLite database of the test's own (the shared PostgreSQL, if any, is
    in use by the session's servers)."""
    database = Database(sqlite_url(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


@dataclass
class ComputeStack:
    api: Server
    backend: FakeBackend
    agent: Agent
    dispatcher: dispatcher_mod.Dispatcher
    settings: ComputeSettings
    db: object


@pytest.fixture(scope="session")
def compute(network_api, network_settings, tmp_path_factory):
    settings = replace(compute_defaults(network_settings), host="astara-test-host",
                       network_url=network_api.url, quota_instances=4,
                       state_dir=tmp_path_factory.mktemp("cs"))
    app = create_app(network_settings, settings)
    db = app.state.service.db
    server = Server(app, free_port()).start()
    backend = FakeBackend()
    try:
        with compute_threads(db, network_settings.bus.wakeup_dir, settings.host,
                             retry_policy(settings), backend, register=True) as (agent, disp):
            yield ComputeStack(server, backend, agent, disp, settings, db)
    finally:
        server.stop()


class User:
    def __init__(self, compute: ComputeStack, network_url: str, project: str,
                 admin: bool = False):
        self.project = project
        self.compute = compute
        self.headers = {"X-Project-Id": project, "X-User-Id": f"user-{project[:8]}",
                        "X-Roles": "admin,member,reader" if admin else "member,reader"}
        self.network_url = network_url
        self._conn = None

    @property
    def sdk(self):
        if self._conn is None:
            import openstack
            from keystoneauth1 import noauth, session

            sess = session.Session(auth=noauth.NoAuth(), additional_headers=self.headers)
            self._conn = openstack.connection.Connection(
                session=sess, region_name="RegionOne",
                compute_endpoint_override=f"{self.compute.api.url}/v2.1/",
                network_endpoint_override=f"{self.network_url}/")
        return self._conn

    def wait_status(self, server_id: str, status: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while True:
            server = self.sdk.compute.get_server(server_id)
            if server.status == status:
                return server
            if time.monotonic() > deadline:
                raise AssertionError(f"{server_id} is {server.status}, not {status}")
            time.sleep(0.02)


@pytest.fixture
def user(compute, network_api):
    return User(compute, network_api.url, uuid.uuid4().hex)


@pytest.fixture
def other_user(compute, network_api):
    return User(compute, network_api.url, uuid.uuid4().hex)


@pytest.fixture
def admin_user(compute, network_api):
    return User(compute, network_api.url, uuid.uuid4().hex, admin=True)
