"""A real Keystone on loopback (tools/keystone-loopback) and our network, compute and
load-balancer APIs behind it (``[DEFAULT] auth_strategy = keystone``), for the test module (so that
the time printed at its end is the Keystone tests' own).

The APIs' ports are chosen first so that Keystone's catalog names them; the APIs read
``[keystone_authtoken]`` from a config file written here, as an operator's would be.
Clients are the real ones: the ``openstack`` command (python-openstackclient, run
unmodified as a subprocess with the clouds.yaml the Keystone script wrote) and
openstacksdk.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from astara.common.settings import AuthSettings
from tests.integration.conftest import make_settings
from tests.support import Server, compute_threads, free_port

KEYSTONE_SCRIPT = Path(__file__).parents[3] / "tools" / "keystone-loopback"
OPENSTACK = Path(sys.executable).parent / "openstack"
HOST = "astara-keystone-host"


@dataclass
class Cloud:
    keystone_dir: str
    env: dict[str, str]  # what `tools/keystone-loopback env` printed
    network_url: str
    compute_url: str
    clouds_yaml: str
    register_host: Callable[[], None]  # a compute host that is up, now
    lb_url: str = ""
    # Its agent (FakeBackend) and the dispatcher running: instances go ACTIVE, deletes end.
    compute_host: Callable[[], contextlib.AbstractContextManager] | None = None

    def openstack(self, cloud: str, *args: str, check: bool = True,
                  ) -> subprocess.CompletedProcess:
        """The unmodified ``openstack`` command, as a user runs it."""
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": self.clouds_yaml}
        for name in list(env):
            if name.startswith("OS_") and name != "OS_CLIENT_CONFIG_FILE":
                del env[name]
        done = subprocess.run([str(OPENSTACK), "--os-cloud", cloud, *args], env=env,
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)}: {done.stderr}")
        return done


def register_host(db, settings) -> None:
    """A compute host whose heartbeat is now (its agent's loop is not run: instances
    stay BUILD)."""
    from astara.bus.outbox import OutboxPublisher
    from astara.bus.wakeup import WakeupDir
    from astara.compute_service import jobs
    from astara.compute_service.agent.backend import FakeBackend
    from astara.compute_service.agent.worker import Agent

    wake = settings.bus.wakeup_dir
    Agent(db, FakeBackend(), HOST, OutboxPublisher(WakeupDir(wake)),
          WakeupDir(jobs.wakeup_dir(wake)), idle_wait=1.0).register()


def compute_host(db, settings, compute_settings) -> contextlib.AbstractContextManager:
    """That compute host's agent (the in-tree FakeBackend: no root) and the dispatcher
    applying its events, each in a thread, stopped and joined on exit."""
    from astara.compute_service.settings import retry_policy

    return compute_threads(db, settings.bus.wakeup_dir, HOST, retry_policy(compute_settings))


def authtoken_section(env: dict[str, str]) -> str:
    """``[keystone_authtoken]`` as an operator writes it for the astara service user."""
    return f"""[keystone_authtoken]
www_authenticate_uri = {env['KEYSTONE_URL']}
auth_url = {env['KEYSTONE_URL']}
auth_type = password
username = astara
password = {env['KEYSTONE_PASSWORD_ASTARA']}
project_name = service
user_domain_name = Default
project_domain_name = Default
"""


def service_auth_section(group: str, env: dict[str, str]) -> str:
    """An auth section (keystoneauth's options) for the astara service user; its
    endpoint comes from the catalog."""
    return f"""[{group}]
auth_type = password
auth_url = {env['KEYSTONE_URL']}
username = astara
password = {env['KEYSTONE_PASSWORD_ASTARA']}
project_name = service
user_domain_name = Default
project_domain_name = Default
"""


@pytest.fixture(scope="module")
def keystone_cloud(tmp_path_factory, request):
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        """A line in the test log even when output is captured (CI's)."""
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")

    t0 = time.monotonic()
    net_port, compute_port, lb_port = free_port(), free_port(), free_port()
    network_url = f"http://127.0.0.1:{net_port}"
    compute_url = f"http://127.0.0.1:{compute_port}/v2.1"
    lb_url = f"http://127.0.0.1:{lb_port}"
    directory = tempfile.mkdtemp(prefix="astara-keystone-")
    env = {**os.environ, "ASTARA_NETWORK_URL": network_url,
           "ASTARA_COMPUTE_URL": compute_url,
           "ASTARA_LOADBALANCER_URL": lb_url,
           "ASTARA_IMAGE_URL": f"http://127.0.0.1:{compute_port}/image"}
    try:
        started = subprocess.run([str(KEYSTONE_SCRIPT), "start", directory], env=env,
                                 capture_output=True, text=True, timeout=300)
        assert started.returncode == 0, started.stderr
        say(started.stderr.strip().splitlines()[-1])  # its start-up time, in CI's log
        printed = subprocess.run([str(KEYSTONE_SCRIPT), "env", directory], check=True,
                                 capture_output=True, text=True).stdout
        ks_env = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
        state = tmp_path_factory.mktemp("astara-keystone-state")
        conf = state / "astara.conf"
        conf.write_text("[DEFAULT]\nauth_strategy = keystone\n" + authtoken_section(ks_env)
                        + service_auth_section("network", ks_env))
        settings = make_settings(state, net_port)
        settings = replace(settings, auth=AuthSettings("keystone", (str(conf),)))

        from astara.compute_service.api.app import create_app as compute_app
        from astara.compute_service.settings import defaults as compute_defaults
        from astara.loadbalancer_service.app import create_app as lb_app
        from astara.loadbalancer_service.settings import defaults as lb_defaults
        from astara.network_service.app import create_app as network_app
        from astara.network_service.app import uvicorn_options

        net = network_app(settings)
        compute_settings = replace(compute_defaults(settings),
                                   # Nothing there: the catalog's URL must be used.
                                   network_url="http://127.0.0.1:1/", host=HOST,
                                   state_dir=state / "cs")
        compute = compute_app(settings, compute_settings)
        # Its VIP ports are made on the network API with the caller's token.
        lb = lb_app(settings, replace(lb_defaults(settings), network_url=network_url,
                                      bind_port=lb_port))
        servers = [Server(net, net_port, **uvicorn_options()).start(),
                   Server(compute, compute_port).start(), Server(lb, lb_port).start()]
        try:
            yield Cloud(directory, ks_env, network_url, compute_url,
                        ks_env["OS_CLIENT_CONFIG_FILE"],
                        lambda: register_host(compute.state.service.db, settings), lb_url,
                        lambda: compute_host(compute.state.service.db, settings,
                                             compute_settings))
        finally:
            for server in servers:
                server.stop()
            net.state.service.db.dispose()
            compute.state.service.db.dispose()
            lb.state.service.db.dispose()
    finally:
        subprocess.run([str(KEYSTONE_SCRIPT), "stop", directory], timeout=120)
        say(f"keystone tests: {time.monotonic() - t0:.1f} s with Keystone's start")
