"""The all-in-one stack for end-to-end tests: astara-aio on its own ports and state dir."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests import real_neutron_stack
from tests.functional.e2e.e2e_helpers import netns
from tests.support import free_port

from astara.compute_service.agent.runner import SubprocessRunner

BIN = Path(sys.executable).parent
REPO = Path(__file__).parents[3]
OUR_NETNS = ("astara-appliance-", "astara-vm-", "bi-up-")
# A tap (veth) cannot outlive its namespace: namespaces and bridges say it all.
OUR_LINKS = ("brq", "bu")


def links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"port {port} never opened:\n{log.read_text()[-4000:]}")


def aio_conf(state: Path, ports: dict[str, int]) -> Path:
    conf = state / "aio.conf"
    conf.write_text(f"""[network_service]
bind_port = {ports['net']}
[loadbalancer_service]
bind_port = {ports['lb']}
network_url = http://127.0.0.1:{ports['net']}/
[compute_service]
bind_port = {ports['comp']}
metadata_port = {ports['meta']}
network_url = http://127.0.0.1:{ports['net']}/
[orchestrator]
network_url = http://127.0.0.1:{ports['net']}/
compute_url = http://127.0.0.1:{ports['comp']}/
metadata_url = http://127.0.0.1:{ports['meta']}/
loadbalancer_url = http://127.0.0.1:{ports['lb']}/
rpc_hosts = 127.0.0.1
rpc_port = {ports['rpc']}
num_worker_processes = 2
health_check_period = 10
boot_timeout = 60
[dashboard]
bind_port = {ports['dash']}
""")
    return conf


@pytest.fixture
def aio(request):
    """``astara-aio`` (extra arguments by indirect parametrisation, e.g.
    ``["--compute-hosts", "2"]``)."""
    extra = list(getattr(request, "param", None) or [])
    state = Path(f"/tmp/astara-e2e-{os.getpid()}")
    state.mkdir(mode=0o755)
    ports = {k: free_port() for k in ("net", "comp", "meta", "rpc", "lb", "dash")}
    conf = aio_conf(state, ports)
    before_ns, before_links = netns(), links()
    log = state / "aio.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "astara-aio"), "--state-path", str(state),
                                 "--config-file", str(conf), *extra], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_port(ports["rpc"], proc, log)
        yield ports, state
    finally:
        proc.send_signal(signal.SIGTERM)
        stopped(proc)
        left_behind(state, before_ns, before_links, kept_as=request.node.name
                    if failed(request.node) else None)


@pytest.fixture(scope="module")
def aio_keystone():
    """``tools/aio --keystone`` as a user runs it (a real Keystone, the APIs behind it,
    <state>/clouds.yaml), on its own ports; the catalog names those ports. Once per
    module (about 45 s to start): its tests share it, each removing what it made."""
    state = Path(f"/tmp/astara-e2e-ks-{os.getpid()}")
    state.mkdir(mode=0o755)
    ports = {k: free_port() for k in ("net", "comp", "meta", "rpc", "lb", "dash", "keystone")}
    conf = aio_conf(state, ports)
    env = {**os.environ, "ASTARA_STATE_PATH": str(state), "KEYSTONE_PORT": str(
        ports["keystone"]), "ASTARA_NETWORK_URL": f"http://127.0.0.1:{ports['net']}",
        "ASTARA_COMPUTE_URL": f"http://127.0.0.1:{ports['comp']}/v2.1",
        "ASTARA_LOADBALANCER_URL": f"http://127.0.0.1:{ports['lb']}"}
    before_ns, before_links = netns(), links()
    log = state / "aio.log"
    with open(log, "w") as out:
        # Its own session: SIGTERM to the group reaches the script and astara-aio, as
        # Ctrl-C does (the script then halts its Keystone).
        proc = subprocess.Popen([str(REPO / "tools" / "aio"), "--keystone", "--config-file",
                                 str(conf)], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        wait_port(ports["rpc"], proc, log, timeout=600)  # tools/install-deps runs first
        yield ports, state
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        stopped(proc)
        keystone_pid = state / "keystone" / "uwsgi.pid"
        pid = int(keystone_pid.read_text()) if keystone_pid.exists() else None
        left_behind(state, before_ns, before_links, kept_as="keystone")
        if pid is not None and Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("tools/aio left its Keystone running")


@pytest.fixture(scope="module")
def real_neutron(request):
    """A real neutron-server and Astara around it (tests/real_neutron_stack.py), once
    per module (about 75 s to start: its tests share it, each removing what it made);
    its start-up time is printed even under output capture (CI's log keeps it)."""
    state = Path(f"/tmp/astara-e2e-rn-{os.getpid()}")
    state.mkdir(mode=0o711)
    before_ns, before_links = netns(), links()
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    try:
        with real_neutron_stack.running(state, aio_conf) as (ports, took):
            with capture.global_and_fixture_disabled():
                print(f"\nreal-neutron harness up in {took:.1f} s")
            yield ports, state
    finally:
        left_behind(state, before_ns, before_links, kept_as="real-neutron")


def stopped(proc: subprocess.Popen) -> None:
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def failed(item) -> bool:
    """Whether ``item``'s set-up or call failed (``tests/conftest.py`` keeps reports)."""
    return any(getattr(getattr(item, f"rep_{when}", None), "failed", False)
               for when in ("setup", "call"))


def left_behind(state: Path, before_ns: set[str], before_links: set[str],
                kept_as: str | None) -> None:
    """Removes and reports what the stack left. Its logs are kept in
    ``/tmp/astara-e2e-logs-<pid>-<kept_as>`` (None: not kept): one directory per failed
    test, or per module-scoped stack, so a later test does not overwrite them."""
    # Only what this stack names is ours to judge and remove (other tests may run).
    leaked_ns = {n for n in netns() - before_ns if n.startswith(OUR_NETNS)}
    leaked_links = {n for n in links() - before_links if n.startswith(OUR_LINKS)}
    if kept_as is not None and (state / "logs").is_dir():
        kept = Path(f"/tmp/astara-e2e-logs-{os.getpid()}-{kept_as}")
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(state / "logs", kept, dirs_exist_ok=True)
        print(f"\nthe stack's logs are kept in {kept}", file=sys.stderr)
    # The responder zygote outlives the agent by design (like the instances); a
    # stack that is gone has no use for it.
    zygote = state / "compute" / "responder-zygote" / "zygote.pid"
    if zygote.exists():
        SubprocessRunner().kill(zygote)
    if leaked_ns or leaked_links:
        # Kills what runs inside (dnsmasq, dhclient) before removing namespaces.
        subprocess.run([str(BIN / "astara-netns-cleanup"), "--force"], check=False,
                       capture_output=True)
        for link in leaked_links & links():
            subprocess.run(["ip", "link", "del", link], check=False)
    shutil.rmtree(state, ignore_errors=True)
    assert not leaked_ns, f"namespaces left: {leaked_ns}"
    assert not leaked_links, f"links left: {leaked_links}"
