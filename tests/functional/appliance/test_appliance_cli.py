"""`astara-appliance-agent --mode host` as a real process follows namespaces as they come.

The agent starts first; then an appliance namespace appears with a management
veth (no address: the agent derives its EUI-64 address in the management prefix)
and its API answers on the management network; then the namespace goes and the
agent drops it. With no scan to come, a namespace is served as soon as it appears
and its management address is added (inotify, then netlink inside it). An agent
stopped with SIGTERM and started again takes over the
document it had applied: same digest at once, the same push is a no-op, a
floating IP change takes the shortcut. Agents are stopped by their PID;
everything is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from tests.scrape import value
from tests.support import wait_for
from topology import Topology, sh

from astara.appliance.apply.netns import entered
from astara.wire import auth, examples

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("nft", "ip")),
                       reason="needs nft and iproute2"),
]

MGMT_MAC = "fa:16:3e:00:00:01"
MGMT_ADDRESS = "fdca::f816:3eff:fe00:1"  # EUI-64 of MGMT_MAC in fdca::/64
KEY = b"functional-deployment-key"
WATCHING = "watching /run/netns for namespaces named"


def key_file(work: Path) -> Path:
    path = work / "appliance_auth_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(KEY)
    return path


def credential(appliance_id: str) -> dict[str, str]:
    """What the orchestrator sends to appliance ``appl-<appliance_id>``."""
    return {auth.HEADER: auth.bearer(auth.appliance_secret(KEY, appliance_id))}


def start_agent(topo: Topology, work: Path, log: Path, scan_interval: str = "0.2",
                mgmt_prefix: bool = True) -> subprocess.Popen:
    with log.open("a") as out:
        agent = subprocess.Popen(
            [sys.executable, "-m", "astara.appliance.cli", "--mode", "host",
             "--netns-prefix", topo.name("appl-"), "--state-dir", str(work / "state"),
             *(["--mgmt-prefix", "fdca::/64"] if mgmt_prefix else []),
             "--scan-interval", scan_interval, "--auth-key-file", str(key_file(work))],
            stdout=out, stderr=subprocess.STDOUT)
    started = log.read_text().count(WATCHING)  # the log is shared by the agents of a test
    wait_for(lambda: agent.poll() is not None or log.read_text().count(WATCHING) > started,
             what="the agent to start watching namespaces")
    assert agent.poll() is None, log.read_text()
    return agent


def stop_agent(agent: subprocess.Popen | None, log: Path) -> None:
    if agent is None or agent.poll() is not None:
        return
    agent.send_signal(signal.SIGTERM)
    try:
        assert agent.wait(10) == 0, log.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(5)


def api(ctl: str, method: str, path: str, appliance_id: str = "r1",
        **kw) -> httpx.Response | None:
    try:
        with entered(ctl):
            return httpx.request(method, f"http://[{MGMT_ADDRESS}]:5000{path}", timeout=10,
                                 headers=credential(appliance_id), **kw)
    except httpx.HTTPError:
        return None


def status(ctl: str, appliance_id: str = "r1") -> httpx.Response | None:
    res = api(ctl, "GET", "/v1/status/", appliance_id)
    return res if res is not None and res.status_code == 200 else None


@pytest.fixture
def lab():
    work = Path(tempfile.mkdtemp(prefix="astara-cli-"))
    work.chmod(0o755)
    topo = Topology(work)
    try:
        ctl = topo.netns("ctl")
        topo.plug(ctl, "mgmt", "eth0", "fa:16:3e:bb:00:02")
        topo.up(ctl, "eth0", "fdca::1/64")
        yield topo, work, ctl
    finally:
        topo.destroy()
        shutil.rmtree(work, ignore_errors=True)


def test_host_mode_serves_namespaces_that_appear_and_drops_those_that_go(lab):
    topo, work, ctl = lab
    log = work / "agent.log"
    agent = None
    try:
        agent = start_agent(topo, work, log)
        appliance = topo.netns("appl-r1")  # appears after the agent started
        topo.plug(appliance, "mgmt", "eth0", MGMT_MAC)

        body = wait_for(lambda: status(ctl),
                        what="the appliance API on the management network").json()
        assert body["config_digest"] is None and body["applies"] == 0
        assert [i["ifname"] for i in body["interfaces"]] == ["eth0"]

        sh("ip", "netns", "del", appliance)
        topo.namespaces.remove(appliance)
        wait_for(lambda: f"namespace {appliance} is gone" in log.read_text(),
                 what="the agent to drop the namespace")
        assert agent.poll() is None, log.read_text()

    finally:
        stop_agent(agent, log)


def test_a_namespace_is_served_as_soon_as_it_appears_with_its_address(lab):
    """No scan comes during the test: inotify reports the namespace, then netlink
    inside it reports the management address."""
    topo, work, ctl = lab
    log = work / "agent.log"
    agent = None
    try:
        agent = start_agent(topo, work, log, scan_interval="3600", mgmt_prefix=False)
        appliance = topo.netns("appl-r3")
        topo.plug(appliance, "mgmt", "eth0", MGMT_MAC)
        wait_for(lambda: f"namespace {appliance} not served yet" in log.read_text(),
                 what="the agent to see the namespace, without its address yet")
        topo.up(appliance, "eth0", f"{MGMT_ADDRESS}/64")
        body = wait_for(lambda: status(ctl, "r3"), timeout=10,
                        what="the appliance API once the address is there").json()
        assert [i["ifname"] for i in body["interfaces"]] == ["eth0"]
    finally:
        stop_agent(agent, log)


def document(n_floating: int) -> dict:
    """The example router cut to its management and external networks."""
    doc = examples.router_document(n_floating)
    doc["networks"] = doc["networks"][:2]
    doc["networks"][0]["interface"]["addresses"] = [f"{MGMT_ADDRESS}/64"]
    return doc


def test_a_restarted_agent_takes_over_what_it_applied(lab):
    topo, work, ctl = lab
    log = work / "agent.log"
    appliance = topo.netns("appl-r2")
    topo.plug(appliance, "mgmt", "eth0", MGMT_MAC)
    topo.plug(appliance, "ext", "eth1", examples.EXT_MAC)
    agent = None
    try:
        agent = start_agent(topo, work, log)
        wait_for(lambda: status(ctl, "r2"), what="the appliance API")
        first = api(ctl, "PUT", "/v1/system/config/", "r2", json=document(1))
        assert first.status_code == 200 and first.json()["nft"] == "full", first.text
        applied = api(ctl, "GET", "/v1/system/config/", "r2").json()
        stop_agent(agent, log)  # SIGTERM: the appliance keeps running, as applied

        agent = start_agent(topo, work, log)
        body = wait_for(lambda: status(ctl, "r2"), what="the restarted agent's API").json()
        assert body["config_digest"] == first.json()["digest"] and body["applies"] == 0
        assert api(ctl, "GET", "/v1/system/config/", "r2").json() == applied
        same = api(ctl, "PUT", "/v1/system/config/", "r2", json=document(1)).json()
        assert same["changed"] is False
        more = api(ctl, "PUT", "/v1/system/config/", "r2", json=document(2)).json()
        assert (more["nft"], more["netlink_ops"]) == ("delta", 0), more  # the shortcut
        assert "203.0.113.11" in api(ctl, "GET", "/v1/firewall/rules/", "r2").text
    finally:
        stop_agent(agent, log)


def test_an_agent_killed_takes_over_again_unless_the_stack_changed_while_it_was_down(lab):
    """kill -9, restart: the digest at once. kill -9, an address removed by hand, restart:
    the record is not trusted (no digest claimed, record dropped); the push applies it."""
    topo, work, ctl = lab
    log = work / "agent.log"
    appliance = topo.netns("appl-r5")
    topo.plug(appliance, "mgmt", "eth0", MGMT_MAC)
    topo.plug(appliance, "ext", "eth1", examples.EXT_MAC)
    record = work / "state" / topo.name("appl-r5") / "applied.json"
    agent = None
    try:
        agent = start_agent(topo, work, log)
        wait_for(lambda: status(ctl, "r5"), what="the appliance API")
        digest = api(ctl, "PUT", "/v1/system/config/", "r5", json=document(1)).json()["digest"]
        agent.kill()
        agent.wait(5)

        agent = start_agent(topo, work, log)
        body = wait_for(lambda: status(ctl, "r5"), what="the restarted agent's API").json()
        assert body["config_digest"] == digest and record.exists()
        agent.kill()
        agent.wait(5)
        topo.run(appliance, "ip", "addr", "del", "203.0.113.2/24", "dev", "eth1")

        agent = start_agent(topo, work, log)
        body = wait_for(lambda: status(ctl, "r5"), what="the restarted agent's API").json()
        assert body["config_digest"] is None and not record.exists()
        assert "not taking over the recorded config" in log.read_text()
        again = api(ctl, "PUT", "/v1/system/config/", "r5", json=document(1)).json()
        assert again["changed"] and again["digest"] == digest
        assert again["netlink_ops"] == 2  # the address, and the default route that went with it
        assert status(ctl, "r5").json()["config_digest"] == digest
    finally:
        stop_agent(agent, log)


def dnsmasq_pid(body: dict, ifname: str) -> int | None:
    service = next(s for s in body["services"] if s["name"] == f"dnsmasq-{ifname}")
    return int(service["detail"].split()[1]) if service["healthy"] else None


def test_a_restarted_agent_adopts_dnsmasq_and_its_kept_status_follows_changes(lab):
    """Restart: the same dnsmasq process, the same digest, a re-PUT is a no-op. Then the
    status answer the agent keeps between health checks follows what the kernel
    reports: an address added by hand, a flushed ruleset, a dnsmasq killed."""
    topo, work, ctl = lab
    log = work / "agent.log"
    appliance = topo.netns("appl-r4")
    topo.plug(appliance, "mgmt", "eth0", MGMT_MAC)
    topo.plug(appliance, "ext", "eth1", examples.EXT_MAC)
    topo.plug(appliance, "int1", "eth2", examples.INT1_MAC)
    doc = examples.router_document(1)
    doc["networks"] = doc["networks"][:3]
    doc["networks"][0]["interface"]["addresses"] = [f"{MGMT_ADDRESS}/64"]
    agent = None
    try:
        agent = start_agent(topo, work, log)
        wait_for(lambda: status(ctl, "r4"), what="the appliance API")
        first = api(ctl, "PUT", "/v1/system/config/", "r4", json=doc)
        assert first.status_code == 200 and first.json()["dhcp"] == ["start eth2"], first.text
        before = status(ctl, "r4").json()
        pid = dnsmasq_pid(before, "eth2")
        assert pid and before["config_digest"] == first.json()["digest"]
        stop_agent(agent, log)

        agent = start_agent(topo, work, log)
        after = wait_for(lambda: status(ctl, "r4"), what="the restarted agent's API").json()
        assert after["config_digest"] == before["config_digest"]
        assert dnsmasq_pid(after, "eth2") == pid  # adopted, not restarted
        same = api(ctl, "PUT", "/v1/system/config/", "r4", json=doc).json()
        assert same["changed"] is False and dnsmasq_pid(status(ctl, "r4").json(), "eth2") == pid

        def eth1_addresses():
            body = status(ctl, "r4").json()
            return next(i["addresses"] for i in body["interfaces"] if i["ifname"] == "eth1")

        topo.run(appliance, "ip", "addr", "add", "192.0.2.99/32", "dev", "eth1")
        wait_for(lambda: "192.0.2.99/32" in eth1_addresses(), timeout=5,
                 what="the status to show an address added by hand")
        topo.run(appliance, "nft", "flush", "ruleset")
        wait_for(lambda: not next(s for s in status(ctl, "r4").json()["services"]
                                  if s["name"] == "nftables")["healthy"], timeout=5,
                 what="the status to show the flushed ruleset")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: dnsmasq_pid(status(ctl, "r4").json(), "eth2") is None, timeout=5,
                 what="the status to show dnsmasq gone")
        healed = api(ctl, "PUT", "/v1/system/config/", "r4", json=doc).json()
        assert healed["dhcp"] == ["start eth2"], healed
        assert dnsmasq_pid(status(ctl, "r4").json(), "eth2") not in (None, pid)
    finally:
        stop_agent(agent, log)
        for pid_file in (work / "state").glob("*/dnsmasq-*.pid"):  # ours: conf in `work`
            with contextlib.suppress(OSError, ValueError):
                dnsmasq = int(pid_file.read_text())
                if str(work).encode() in Path(f"/proc/{dnsmasq}/cmdline").read_bytes():
                    os.kill(dnsmasq, signal.SIGTERM)


def test_the_appliances_metrics_count_dnsmasq_starts_and_a_restart(lab):
    """A push starts dnsmasq; killed, the next push starts it again: two starts on the
    appliance's /metrics, read with its secret (refused without)."""
    topo, work, ctl = lab
    log = work / "agent.log"
    appliance = topo.netns("appl-r6")
    topo.plug(appliance, "mgmt", "eth0", MGMT_MAC)
    topo.plug(appliance, "ext", "eth1", examples.EXT_MAC)
    topo.plug(appliance, "int1", "eth2", examples.INT1_MAC)
    doc = examples.router_document(1)
    doc["networks"] = doc["networks"][:3]
    doc["networks"][0]["interface"]["addresses"] = [f"{MGMT_ADDRESS}/64"]
    starts = {"daemon": "dnsmasq", "action": "start"}
    agent = None
    try:
        agent = start_agent(topo, work, log)
        wait_for(lambda: status(ctl, "r6"), what="the appliance API")
        fresh = api(ctl, "GET", "/metrics", "r6")
        assert fresh.status_code == 200, fresh.text
        assert value(fresh.text, "astara_appliance_daemon_actions_total", **starts) == 0

        first = api(ctl, "PUT", "/v1/system/config/", "r6", json=doc).json()
        assert first["dhcp"] == ["start eth2"], first
        text = api(ctl, "GET", "/metrics", "r6").text
        assert value(text, "astara_appliance_daemon_actions_total", **starts) == 1
        assert value(text, "astara_appliance_config_applies_total", result="changed") == 1

        pid = dnsmasq_pid(status(ctl, "r6").json(), "eth2")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: dnsmasq_pid(status(ctl, "r6").json(), "eth2") is None, timeout=5,
                 what="the status to show dnsmasq gone")
        healed = api(ctl, "PUT", "/v1/system/config/", "r6", json=doc).json()
        assert healed["dhcp"] == ["start eth2"], healed
        text = api(ctl, "GET", "/metrics", "r6").text
        assert value(text, "astara_appliance_daemon_actions_total", **starts) == 2

        with entered(ctl):
            refused = httpx.get(f"http://[{MGMT_ADDRESS}]:5000/metrics", timeout=10)
        assert refused.status_code == 401
    finally:
        stop_agent(agent, log)
        for pid_file in (work / "state").glob("*/dnsmasq-*.pid"):  # ours: conf in `work`
            with contextlib.suppress(OSError, ValueError):
                dnsmasq = int(pid_file.read_text())
                if str(work).encode() in Path(f"/proc/{dnsmasq}/cmdline").read_bytes():
                    os.kill(dnsmasq, signal.SIGTERM)
