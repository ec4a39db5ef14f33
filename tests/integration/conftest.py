"""Servers for integration tests: the network API on loopback over a real database.

The database is a fresh SQLite file by default; set ``ASTARA_TEST_DATABASE_URL``
to a PostgreSQL URL (``.ci/run`` starts one on loopback) to run the same tests
against PostgreSQL. Every test gets its own project ids, so tests sharing a
server never see each other's resources. ``rabbitmq`` is a real RabbitMQ on loopback
(``tools/rabbitmq-loopback``: its own node, data, logs and epmd under a temporary
directory; stopped by PID).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from oslo_config import cfg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from astara.common.settings import Settings, defaults, sqlite_url
from tests.support import Server, free_port

PG_URL = os.environ.get("ASTARA_TEST_DATABASE_URL", "")
RABBITMQ_SCRIPT = Path(__file__).parents[2] / "tools" / "rabbitmq-loopback"


def fresh_database(state: Path) -> str:
    """A new, empty database: a SQLite file in ``state``, or a new PostgreSQL database
    on the server of ``ASTARA_TEST_DATABASE_URL`` (never the one others are using)."""
    if not PG_URL:
        return sqlite_url(state)
    url = make_url(PG_URL)
    name = f"astara_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def make_settings(state: Path, port: int = 0) -> Settings:
    base = defaults(state)
    return replace(base, database=replace(base.database, url=fresh_database(state)),
                   bus=replace(base.bus, max_idle_wait=5.0),
                   network=replace(base.network, bind_port=port, host="astara-test"))


@pytest.fixture(scope="session")
def network_settings(tmp_path_factory) -> Settings:
    state = tmp_path_factory.mktemp("astara-state")
    return make_settings(state, free_port())


@pytest.fixture(scope="session")
def network_api(network_settings):
    from astara.network_service.app import create_app, uvicorn_options

    app = create_app(network_settings)
    server = Server(app, network_settings.network.bind_port, **uvicorn_options()).start()
    yield server
    server.stop()
    app.state.service.db.dispose()


class Identity:
    def __init__(self, server: Server, project: str, admin: bool = False):
        self.project = project
        self.admin = admin
        self.headers = {
            "X-Project-Id": project,
            "X-User-Id": f"user-{project[:8]}",
            "X-Roles": "admin,member,reader" if admin else "member,reader",
        }
        self.server = server
        self._conn = None

    @property
    def sdk(self):
        """An openstacksdk connection with a keystoneauth noauth session."""
        if self._conn is None:
            import openstack
            from keystoneauth1 import noauth, session

            sess = session.Session(auth=noauth.NoAuth(), additional_headers=self.headers)
            self._conn = openstack.connection.Connection(
                session=sess, network_endpoint_override=f"{self.server.url}/",
                region_name="RegionOne")
        return self._conn

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.server.url}/v2.0", headers=self.headers)


@pytest.fixture
def project_ids():
    return uuid.uuid4().hex, uuid.uuid4().hex


@pytest.fixture
def demo(network_api, project_ids) -> Identity:
    return Identity(network_api, project_ids[0])


@pytest.fixture
def other(network_api, project_ids) -> Identity:
    return Identity(network_api, project_ids[1])


@pytest.fixture
def admin(network_api) -> Identity:
    return Identity(network_api, uuid.uuid4().hex, admin=True)


class RabbitMQ:
    def __init__(self, directory: str):
        self.directory = directory
        self.url = ""

    def _run(self, action: str) -> str:
        return subprocess.run([str(RABBITMQ_SCRIPT), action, self.directory], check=True,
                              capture_output=True, text=True, timeout=180).stdout.strip()

    def start(self) -> str:
        """Start it (again: same ports, same data); return its transport_url."""
        self.url = self._run("start")
        return self.url

    def kill(self) -> None:
        """SIGKILL the broker (a crash); its durable queues stay on disk."""
        self._run("kill")

    def stop(self) -> None:
        self._run("stop")

    # Durable queues: what was queued survives a broker restart. Quick reconnects.
    RABBIT_SECTION = ("[oslo_messaging_rabbit]\namqp_durable_queues = true\n"
                      "kombu_reconnect_delay = 0.1\nrabbit_retry_interval = 1\n"
                      "rabbit_retry_backoff = 0\n")

    def conf(self, tmp_path: Path) -> cfg.ConfigOpts:
        """A conf as an operator writes it: transport_url, durable queues."""
        path = tmp_path / "amqp.conf"
        path.write_text(f"[DEFAULT]\ntransport_url = {self.url}\n{self.RABBIT_SECTION}")
        conf = cfg.ConfigOpts()
        conf(args=["--config-file", str(path)], default_config_files=[],
             default_config_dirs=[])
        return conf


@pytest.fixture(scope="session")
def rabbitmq():
    broker = RabbitMQ(tempfile.mkdtemp(prefix="astara-rabbitmq."))
    broker.start()
    yield broker
    broker.stop()


__all__ = ["Identity", "Server", "free_port", "make_settings", "replace"]
