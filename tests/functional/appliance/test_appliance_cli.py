"""`astara-appliance-agent --mode host` as a real process follows namespaces as they come.

The agent starts first; then an appliance namespace appears with a management
veth (no address: the agent derives its EUI-64 address in the management prefix)
and its API answers on the management network; then the namespace goes and the
agent drops it. The agent is stopped by its PID; everything is removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from topology import Topology, sh

from astara.appliance.apply.netns import entered

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("nft", "ip")),
                       reason="needs nft and iproute2"),
]

MGMT_MAC = "fa:16:3e:00:00:01"
MGMT_ADDRESS = "fdca::f816:3eff:fe00:1"  # EUI-64 of MGMT_MAC in fdca::/64


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_host_mode_serves_namespaces_that_appear_and_drops_those_that_go():
    work = Path(tempfile.mkdtemp(prefix="astara-cli-"))
    work.chmod(0o755)
    topo = Topology(work)
    log = work / "agent.log"
    agent = None
    try:
        ctl = topo.netns("ctl")
        topo.plug(ctl, "mgmt", "eth0", "fa:16:3e:bb:00:02")
        topo.up(ctl, "eth0", "fdca::1/64")
        with log.open("w") as out:
            agent = subprocess.Popen(
                [sys.executable, "-m", "astara.appliance.cli", "--mode", "host",
                 "--netns-prefix", topo.name("appl-"), "--state-dir", str(work / "state"),
                 "--mgmt-prefix", "fdca::/64", "--scan-interval", "0.2"],
                stdout=out, stderr=subprocess.STDOUT)
        time.sleep(0.5)
        assert agent.poll() is None, log.read_text()

        appliance = topo.netns("appl-r1")  # appears after the agent started
        topo.plug(appliance, "mgmt", "eth0", MGMT_MAC)

        def status():
            try:
                with entered(ctl):
                    res = httpx.get(f"http://[{MGMT_ADDRESS}]:5000/v1/status/", timeout=2)
            except httpx.HTTPError:
                return None
            return res if res.status_code == 200 else None

        body = wait_for(status, what="the appliance API on the management network").json()
        assert body["config_digest"] is None and body["applies"] == 0
        assert [i["ifname"] for i in body["interfaces"]] == ["eth0"]

        sh("ip", "netns", "del", appliance)
        topo.namespaces.remove(appliance)
        wait_for(lambda: f"namespace {appliance} is gone" in log.read_text(),
                 what="the agent to drop the namespace")
        assert agent.poll() is None, log.read_text()

        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0, log.read_text()
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait(5)
        topo.destroy()
        shutil.rmtree(work, ignore_errors=True)
