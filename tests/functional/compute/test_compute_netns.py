"""The netns backend as root: instances are namespaces on per-network bridges.

A test "peer" namespace on the same network runs dnsmasq (DHCPv4 for the instance's
MAC, router advertisements for SLAAC) and acts as the client that pings the
instance and fetches its HTTP responder. Every name carries a random suffix; the
fixture removes namespaces, links and processes it or the backend created.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from compute_stack import plug_namespace, sh
from tests.support import wait_for

from astara.cli.netns_cleanup import drop_filter_table_if_empty
from astara.compute_service.agent.backend import BackendError, InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.runner import SubprocessRunner

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("dnsmasq", "dhclient", "ip", "ping")),
                       reason="needs dnsmasq, dhclient, ping and iproute2"),
]


class Lab:
    def __init__(self, tmp: Path):
        tag = secrets.token_hex(2)
        self.backend = NetnsBackend(SubprocessRunner(), tmp, netns_prefix=f"acv-{tag}-",
                                    bridge_prefix=f"acb{tag}")
        self.tag = tag
        self.tmp = tmp
        self.specs: list[InstanceSpec] = []
        self.namespaces: list[str] = []
        self.links: list[str] = []
        self.pids: list[int] = []

    def spec(self, net_id: str, name: str, mac: str) -> InstanceSpec:
        port = {"port_id": str(uuid.uuid4()), "net_id": net_id, "mac_address": mac,
                "fixed_ips": [{"subnet_id": "s", "ip_address": "10.77.0.10"}]}
        spec = InstanceSpec(id=str(uuid.uuid4()), name=name, profile="tenant", ports=(port,))
        self.specs.append(spec)
        return spec

    def peer(self, net_id: str, mac: str, ip: str) -> str:
        """A namespace on the network's bridge serving DHCP for ``mac`` and RAs."""
        ns = plug_namespace(self.backend.bridge(net_id), f"acp-{self.tag}", f"acph{self.tag}",
                            ["10.77.0.1/24", "fd77::1/64"], namespaces=self.namespaces,
                            links=self.links)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--no-resolv",
             "--no-hosts", "--port=0", "--bind-interfaces", "--interface=eth0",
             "--user=root", f"--pid-file={self.tmp}/dnsmasq.pid",
             f"--dhcp-leasefile={self.tmp}/dnsmasq.leases",
             "--dhcp-range=10.77.0.0,static,255.255.255.0", f"--dhcp-host={mac},{ip}",
             "--enable-ra", "--dhcp-range=fd77::,ra-only,64", "--ra-param=eth0,3"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.pids.append(proc.pid)
        return ns

    def cleanup(self) -> None:
        for spec in self.specs:
            with contextlib.suppress(Exception):
                self.backend.delete(spec)
        self.backend.runner.kill(self.backend.responders.pidfile)  # the responder zygote
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        for link in self.links:
            sh("ip", "link", "del", link, check=False)
        # a network's bridge outlives its instances while a peer is on it: gone now
        self.backend.sweep_bridges()
        drop_filter_table_if_empty()  # the backend keeps it (empty) once it made it


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.cleanup()


def http_get(ns: str, url: str) -> str:
    out = sh("ip", "netns", "exec", ns, "curl", "-s", "-m", "2", "-g", url, check=False)
    return out.stdout


def test_tenant_instance_lifecycle(lab):
    net_id = str(uuid.uuid4())
    mac = "fa:16:3e:77:00:10"
    peer = lab.peer(net_id, mac, "10.77.0.10")
    spec = lab.spec(net_id, f"tenant-{lab.tag}", mac)
    console = lab.backend.create(spec)
    assert "dhclient" in console
    assert lab.backend.create(spec) == console  # idempotent: nothing restarted twice
    ns = lab.backend.netns(spec.id)
    tap = lab.backend.tap(spec.ports[0]["port_id"])
    assert Path(f"/sys/class/net/{lab.backend.bridge(net_id)}/brif/{tap}").exists()
    wait_for(lambda: sh("ip", "netns", "exec", peer, "ping", "-c1", "-W1", "10.77.0.10",
                        check=False).returncode == 0, what="DHCP address answering ping")
    assert wait_for(lambda: http_get(peer, "http://10.77.0.10/"), what="HTTP") == \
        f"{spec.name}\n"
    slaac = wait_for(lambda: "fd77::" in sh("ip", "-n", ns, "-6", "addr", "show", "eth0")
                     .stdout, what="SLAAC address")
    assert slaac
    assert lab.backend.observe()[spec.id].running

    lab.backend.stop(spec)
    assert not lab.backend.observe()[spec.id].running
    assert sh("ip", "netns", "exec", peer, "ping", "-c1", "-W1", "10.77.0.10",
              check=False).returncode != 0
    lab.backend.start(spec)
    assert wait_for(lambda: http_get(peer, "http://10.77.0.10/"), what="HTTP again") == \
        f"{spec.name}\n"

    lab.backend.delete(spec)
    lab.backend.delete(spec)  # absent counts as success
    assert not Path(f"/run/netns/{ns}").exists()
    assert not Path(f"/sys/class/net/{tap}").exists()
    assert spec.id not in lab.backend.observe()
    with pytest.raises(BackendError):
        lab.backend.start(spec)


def test_bridge_lives_while_it_has_ports(lab):
    net_id = str(uuid.uuid4())
    a = lab.spec(net_id, "a", "fa:16:3e:77:00:21")
    b = lab.spec(net_id, "b", "fa:16:3e:77:00:22")
    br = Path(f"/sys/class/net/{lab.backend.bridge(net_id)}")
    lab.backend.create(a)
    lab.backend.create(b)
    assert len(list((br / "brif").iterdir())) == 2
    lab.backend.delete(a)
    assert br.exists()
    lab.backend.delete(b)
    assert not br.exists()


def test_attach_and_detach_a_second_port(lab):
    net1, net2 = str(uuid.uuid4()), str(uuid.uuid4())
    spec = lab.spec(net1, "multi", "fa:16:3e:77:00:31")
    lab.backend.create(spec)
    port = {"port_id": str(uuid.uuid4()), "net_id": net2, "mac_address": "fa:16:3e:77:00:32",
            "fixed_ips": []}
    lab.backend.attach(spec, port)
    lab.backend.attach(spec, port)
    macs = lab.backend.observe()[spec.id].ports
    assert sorted(macs) == ["fa:16:3e:77:00:31", "fa:16:3e:77:00:32"]
    lab.backend.detach(spec, port)
    assert lab.backend.observe()[spec.id].ports == ("fa:16:3e:77:00:31",)
    assert not Path(f"/sys/class/net/{lab.backend.bridge(net2)}").exists()
