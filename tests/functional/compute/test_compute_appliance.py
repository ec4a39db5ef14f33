"""The appliance profile as root: a namespace the host's appliance agent serves.

An instance booted from ``astara-appliance`` becomes ``<appliance prefix><id>`` with
its management port as ``eth0`` (the port's fixed IP on it, nothing else configured,
nothing started inside) and its other ports as ``eth1``, ``eth2``, ... The management
network's bridge carries the host's management address, so the host reaches the
instance; a real ``astara-appliance-agent --mode host`` (started here, stopped by its
PID) then answers on the management address. Every name and the management prefix
carry a random tag; everything is removed even on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest
from compute_stack import sh
from tests.support import wait_for

from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.runner import SubprocessRunner
from astara.wire import auth

KEY = b"compute-functional-deployment-key"

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("ip", "ping")),
                       reason="needs ping and iproute2"),
]


def links(ns: str) -> dict[str, dict]:
    out = json.loads(sh("ip", "-j", "-n", ns, "addr", "show").stdout)
    return {link["ifname"]: link for link in out if link["ifname"] != "lo"}


def global_addresses(link: dict) -> list[str]:
    return [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", ())
            if a.get("scope") == "global"]


def ipv6_off(ns: str) -> dict[str, bool]:
    """Each ``ethN``'s disable_ipv6 inside ``ns``."""
    out = sh("ip", "netns", "exec", ns, "sh", "-c",
             "grep . /proc/sys/net/ipv6/conf/eth*/disable_ipv6").stdout
    return {line.split("/")[6]: line.rsplit(":", 1)[1].strip() == "1"
            for line in out.splitlines()}


def host_addresses(ifname: str) -> list[str]:
    out = sh("ip", "-j", "addr", "show", "dev", ifname, check=False).stdout
    return global_addresses(json.loads(out)[0]) if out.strip() else []


class Lab:
    def __init__(self, work: Path):
        self.tag = secrets.token_hex(2)
        self.work = work
        self.mgmt_net = str(uuid.uuid4())
        self.mgmt_prefix = f"fdca:{int(self.tag, 16):x}:"  # canonical form
        self.host_address = f"{self.mgmt_prefix}:1/64"
        self.backend = NetnsBackend(
            SubprocessRunner(), work / "compute", netns_prefix=f"acv-{self.tag}-",
            bridge_prefix=f"acb{self.tag}", appliance_prefix=f"aca-{self.tag}-",
            mgmt_host_address=self.host_address)
        self.specs: list[InstanceSpec] = []
        self.ports: list[dict] = []
        self.agent: subprocess.Popen | None = None

    def port(self, net_id: str, mac: str, ip: str | None = None,
             prefixlen: int | None = None) -> dict:
        fixed = [] if ip is None else [{"subnet_id": "s", "ip_address": ip,
                                       "prefixlen": prefixlen}]
        port = {"port_id": str(uuid.uuid4()), "net_id": net_id, "mac_address": mac,
                "fixed_ips": fixed, "management": net_id == self.mgmt_net}
        self.ports.append(port)
        return port

    def appliance(self, ports: list[dict]) -> InstanceSpec:
        spec = InstanceSpec(id=str(uuid.uuid4()), name=f"ak-{self.tag}", profile="appliance",
                            ports=tuple(ports))
        self.specs.append(spec)
        return spec

    @property
    def key_file(self) -> Path:
        path = self.work / "appliance_auth_key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(KEY)
        return path

    def start_agent(self) -> None:
        state = self.work / "appliance"
        self.log = self.work / "appliance-agent.log"
        with self.log.open("w") as out:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "astara.appliance.cli", "--mode", "host",
                 "--netns-prefix", self.backend.appliance_prefix, "--state-dir", str(state),
                 "--scan-interval", "0.2", "--auth-key-file", str(self.key_file)],
                stdout=out, stderr=subprocess.STDOUT)

    def cleanup(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(10)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait(5)
        for spec in self.specs:
            with contextlib.suppress(Exception):
                self.backend.delete(spec)
        for port in self.ports:
            sh("ip", "link", "del", self.backend.tap(port["port_id"]), check=False)
        for net in {p["net_id"] for p in self.ports}:
            sh("ip", "link", "del", self.backend.bridge(net), check=False)


@pytest.fixture
def lab():
    work = Path(tempfile.mkdtemp(prefix="astara-capp-"))
    work.chmod(0o755)  # the appliance agent's dnsmasq runs as nobody
    lab = Lab(work)
    yield lab
    lab.cleanup()
    shutil.rmtree(work, ignore_errors=True)


def test_appliance_instance_is_served_by_the_host_appliance_agent(lab):
    net_a, net_b = str(uuid.uuid4()), str(uuid.uuid4())
    mgmt_ip = f"{lab.mgmt_prefix}:10"
    mgmt = lab.port(lab.mgmt_net, "fa:16:3e:a5:00:01", mgmt_ip, 64)
    p1 = lab.port(net_a, "fa:16:3e:a5:00:02", "10.78.0.5", 24)
    p2 = lab.port(net_b, "fa:16:3e:a5:00:03", "fd78::5", 64)
    spec = lab.appliance([mgmt, p1, p2])

    console = lab.backend.create(spec)
    assert f"{mgmt_ip}/64" in console
    assert lab.backend.create(spec) == console  # idempotent
    ns = lab.backend.netns(spec.id, "appliance")
    assert ns == f"aca-{lab.tag}-{spec.id}"
    assert Path(f"/run/netns/{ns}").exists()
    assert not Path(f"/run/netns/{lab.backend.netns(spec.id)}").exists()

    inside = links(ns)
    assert sorted(inside) == ["eth0", "eth1", "eth2"]
    assert [inside[f"eth{i}"]["address"] for i in range(3)] == \
        ["fa:16:3e:a5:00:01", "fa:16:3e:a5:00:02", "fa:16:3e:a5:00:03"]
    assert global_addresses(inside["eth0"]) == [f"{mgmt_ip}/64"]
    assert global_addresses(inside["eth1"]) == []  # the appliance agent's job
    assert global_addresses(inside["eth2"]) == []
    # IPv6 off where the port has no IPv6 fixed IP (eth1), but on the management port:
    # no link-local address, no multicast group joined, nothing to report
    assert ipv6_off(ns) == {"eth0": False, "eth1": True, "eth2": False}
    solicits = sh("ip", "netns", "exec", ns, "grep", ".", *(
        f"/proc/sys/net/ipv6/conf/{i}/router_solicitations" for i in ("default", "eth0", "eth2")
    )).stdout
    assert solicits.count(":0\n") == 3, solicits  # none: a router's addresses are given
    assert not [a for a in inside["eth1"].get("addr_info", ()) if a["family"] == "inet6"]
    assert [a for a in inside["eth2"].get("addr_info", ()) if a["family"] == "inet6"]

    mgmt_br = lab.backend.bridge(lab.mgmt_net)
    assert host_addresses(mgmt_br) == [lab.host_address]
    # made with multicast snooping off (the appliances' reports are dropped: flooding
    # is what reaches a neighbour solicitation's group); the others keep the default
    snooping = {br: Path(f"/sys/class/net/{br}/bridge/multicast_snooping").read_text().strip()
                for br in (mgmt_br, lab.backend.bridge(net_a))}
    assert snooping == {mgmt_br: "0", lab.backend.bridge(net_a): "1"}
    assert host_addresses(lab.backend.bridge(net_a)) == []
    assert host_addresses(lab.backend.bridge(net_b)) == []

    def ping():
        return sh("ping", "-6", "-c1", "-W1", "-I", lab.host_address.split("/")[0], mgmt_ip,
                  check=False).returncode == 0

    wait_for(ping, what="the management address answering the host")
    seen = lab.backend.observe()[spec.id]
    assert seen.profile == "appliance" and seen.running
    assert not list((lab.work / "compute").rglob("*.pid"))  # nothing started inside

    lab.start_agent()

    def status():
        try:
            res = httpx.get(f"http://[{mgmt_ip}]:5000/v1/status/", timeout=2, trust_env=False,
                            headers={auth.HEADER: auth.bearer(
                                auth.appliance_secret(KEY, spec.id))})
        except httpx.HTTPError:
            return None
        return res if res.status_code == 200 else None

    body = wait_for(status, what="the appliance API on the management address").json()
    assert sorted(i["ifname"] for i in body["interfaces"]) == ["eth0", "eth1", "eth2"]

    # os-interface attach adds the next ethN; detach removes that veth
    p3 = lab.port(net_a, "fa:16:3e:a5:00:04")
    lab.backend.attach(spec, p3)
    lab.backend.attach(spec, p3)
    assert links(ns)["eth3"]["address"] == "fa:16:3e:a5:00:04"
    assert ipv6_off(ns)["eth3"] is True  # no fixed IP at all
    lab.backend.detach(spec, p2)
    assert sorted(links(ns)) == ["eth0", "eth1", "eth3"]
    assert not Path(f"/sys/class/net/{lab.backend.tap(p2['port_id'])}").exists()
    assert not Path(f"/sys/class/net/{lab.backend.bridge(net_b)}").exists()
    spec = InstanceSpec(spec.id, spec.name, spec.profile, (mgmt, p1, p3))

    lab.backend.stop(spec)
    assert not lab.backend.observe()[spec.id].running
    lab.backend.start(spec)
    assert lab.backend.observe()[spec.id].running
    wait_for(ping, what="the management address after a restart")

    lab.backend.delete(spec)
    assert spec.id not in lab.backend.observe()
    assert not Path(f"/run/netns/{ns}").exists()
    for port in (mgmt, p1, p2, p3):
        assert not Path(f"/sys/class/net/{lab.backend.tap(port['port_id'])}").exists()
    for net in (lab.mgmt_net, net_a, net_b):
        assert not Path(f"/sys/class/net/{lab.backend.bridge(net)}").exists()
    assert lab.host_address.split("/")[0] not in sh("ip", "-6", "addr", "show").stdout
    wait_for(lambda: f"namespace {ns} is gone" in lab.log.read_text(),
             what="the appliance agent to drop the namespace")
    assert lab.agent.poll() is None, lab.log.read_text()
