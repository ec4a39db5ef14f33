"""End to end, as root: astara-aio up, astara-burnin passes, nothing left behind.

Starts ``astara-aio`` on its own ports and state directory, runs ``astara-burnin``
against it (external + two tenant networks, router, instances; DHCP, SLAAC,
east-west, SNAT, floating IP in and out, metadata, interface removal, router
deletion), then stops everything and checks no namespace, bridge or process of
the run survives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "curl", "ping")
OUR_NETNS = ("astara-appliance-", "astara-vm-", "bi-up-")
OUR_LINKS = ("brq", "bu", "tap")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


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


@pytest.fixture
def aio(tmp_path_factory):
    state = Path(f"/tmp/astara-e2e-{os.getpid()}")
    state.mkdir(mode=0o755)
    ports = {k: free_port() for k in ("net", "comp", "meta", "rpc")}
    conf = state / "aio.conf"
    conf.write_text(f"""[network_service]
bind_port = {ports['net']}
[compute_service]
bind_port = {ports['comp']}
metadata_port = {ports['meta']}
network_url = http://127.0.0.1:{ports['net']}/
[orchestrator]
network_url = http://127.0.0.1:{ports['net']}/
compute_url = http://127.0.0.1:{ports['comp']}/
metadata_url = http://127.0.0.1:{ports['meta']}/
rpc_hosts = 127.0.0.1
rpc_port = {ports['rpc']}
num_worker_processes = 2
health_check_period = 10
boot_timeout = 60
""")
    before_ns, before_links = netns(), links()
    log = state / "aio.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "astara-aio"), "--state-path", str(state),
                                 "--config-file", str(conf)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_port(ports["rpc"], proc, log)
        yield ports, state
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # Only what this stack names is ours to judge and remove (other tests may run).
        leaked_ns = {n for n in netns() - before_ns if n.startswith(OUR_NETNS)}
        leaked_links = {n for n in links() - before_links if n.startswith(OUR_LINKS)}
        for ns in leaked_ns:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        for link in leaked_links:
            subprocess.run(["ip", "link", "del", link], check=False)
        shutil.rmtree(state, ignore_errors=True)
        assert not leaked_ns, f"namespaces left: {leaked_ns}"
        assert not leaked_links, f"links left: {leaked_links}"


def test_burnin_passes_against_a_fresh_all_in_one(aio):
    ports, state = aio
    summary = state / "burnin.json"
    r = subprocess.run([str(BIN / "astara-burnin"),
                        "--network-url", f"http://127.0.0.1:{ports['net']}/",
                        "--compute-url", f"http://127.0.0.1:{ports['comp']}/",
                        "--boot-timeout", "90", "--json", str(summary)],
                       capture_output=True, text=True, timeout=900)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}"
                     for p in sorted((state / "logs").glob("*.log")))
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{logs}"
    result = json.loads(summary.read_text())
    print(r.stdout)  # the per-step timings, shown with -s
    assert result["ok"] is True
    assert len(result["steps"]) == 16
