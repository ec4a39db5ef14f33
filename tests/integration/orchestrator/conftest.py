"""An ``astara-orchestrator`` process against the test network API, with its credentials.

The RPC token and the appliance deployment key are written (0600) where the
orchestrator looks by default: ``$state_path/rpc_auth_token`` and
``$state_path/appliance_auth_key``. No compute service runs: routers cannot boot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support import free_port, wait_for

BIN = Path(sys.executable).parent


@dataclass
class Orch:
    url: str
    proc: subprocess.Popen
    state: Path  # the orchestrator's own scratch directory (conf, log)
    state_path: Path  # its [DEFAULT] state_path, where its credentials are
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=self.headers, **kw)

    def ctl(self, *args: str, url: str | None = None, env: dict | None = None
            ) -> subprocess.CompletedProcess:
        """astara-ctl as an operator runs it: it finds the token under the state path."""
        environ = {**os.environ, "ASTARA_STATE_PATH": str(self.state_path), **(env or {})}
        return subprocess.run([str(BIN / "astara-ctl"), "--url", url or self.url, *args],
                              capture_output=True, text=True, timeout=60, env=environ)


def write_secret(path: Path, value: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


@pytest.fixture(scope="module")
def orchestrator(network_api, network_settings, tmp_path_factory):
    with running_orchestrator(network_api, network_settings,
                              tmp_path_factory.mktemp("orch")) as orch:
        yield orch


@contextlib.contextmanager
def running_orchestrator(network_api, network_settings, state: Path, default: str = "",
                         orchestrator: str = ""):
    """An orchestrator process; ``default``/``orchestrator``: more lines of those
    sections (e.g. ``enabled_drivers``, ``loadbalancer_url``)."""
    token = secrets.token_hex(16)
    write_secret(network_settings.state_path / "rpc_auth_token", token)
    write_secret(network_settings.state_path / "appliance_auth_key", secrets.token_hex(16))
    rpc_port = free_port()
    conf = state / "orchestrator.conf"
    conf.write_text(f"""[DEFAULT]
state_path = {network_settings.state_path}
{default}
[database]
connection = {network_settings.database.url}
[orchestrator]
network_url = {network_api.url}/
compute_url = http://127.0.0.1:{free_port()}/
rpc_hosts = 127.0.0.1
rpc_port = {rpc_port}
num_worker_processes = 2
health_check_period = 5
{orchestrator}
""")
    log = open(state / "orchestrator.log", "w")  # noqa: SIM115  (closed at teardown)
    proc = subprocess.Popen([str(BIN / "astara-orchestrator"), "--config-file", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    orch = Orch(f"http://127.0.0.1:{rpc_port}", proc, state, network_settings.state_path,
                token)

    def up():
        try:
            return orch.get("/workers/").status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None, (state / "orchestrator.log").read_text()
            return False

    try:
        wait_for(up)
        yield orch
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
