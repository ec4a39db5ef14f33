"""A real RabbitMQ on loopback for the AMQP transport's tests (``tools/rabbitmq-loopback``:
its own node, data, logs and epmd under a temporary directory; stopped by PID)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from oslo_config import cfg

SCRIPT = Path(__file__).parents[3] / "tools" / "rabbitmq-loopback"


class RabbitMQ:
    def __init__(self, directory: str):
        self.directory = directory
        self.url = ""

    def _run(self, action: str) -> str:
        return subprocess.run([str(SCRIPT), action, self.directory], check=True,
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

    def conf(self, tmp_path: Path) -> cfg.ConfigOpts:
        """A conf as an operator writes it: transport_url, durable queues."""
        path = tmp_path / "amqp.conf"
        path.write_text(f"[DEFAULT]\ntransport_url = {self.url}\n"
                        "[oslo_messaging_rabbit]\namqp_durable_queues = true\n"
                        "kombu_reconnect_delay = 0.1\nrabbit_retry_interval = 1\n"
                        "rabbit_retry_backoff = 0\n")
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
