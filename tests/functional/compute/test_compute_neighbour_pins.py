"""Pinned management neighbours as root: plug, unplug, restart and reconcile.

An appliance's management port plugged by the netns backend leaves a PERMANENT
entry for its management address on the management bridge (root namespace) and one
for the host's management address inside the appliance, so neither side needs a
dynamic (counted, resolved) entry; unplugging removes the first, a reconcile puts
back either when deleted. Every name and the management prefix carry a random tag;
everything is removed even on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from compute_stack import sh
from tests.support import wait_for

from astara.compute_service.agent import reconcile
from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.runner import SubprocessRunner
from astara.compute_service.transitions import RUNNING

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("ip", "ping")),
                       reason="needs ping and iproute2"),
]


def entries(*argv: str) -> dict[str, dict]:
    """``ip -j neigh show ARGV`` by destination."""
    return {e["dst"]: e for e in json.loads(sh("ip", "-j", *argv).stdout or "[]")}


class Lab:
    def __init__(self, work: Path):
        self.tag = secrets.token_hex(2)
        self.mgmt_net = str(uuid.uuid4())
        self.prefix = f"fdcb:{int(self.tag, 16):x}:"
        self.host_ip = f"{self.prefix}:1"
        self.backend = NetnsBackend(
            SubprocessRunner(), work / "compute", netns_prefix=f"anv-{self.tag}-",
            bridge_prefix=f"anb{self.tag}", appliance_prefix=f"ana-{self.tag}-",
            mgmt_host_address=f"{self.host_ip}/64")
        self.br = self.backend.bridge(self.mgmt_net)
        self.specs: list[InstanceSpec] = []

    def appliance(self, n: int) -> tuple[InstanceSpec, dict]:
        mgmt = {"port_id": str(uuid.uuid4()), "net_id": self.mgmt_net, "management": True,
                "mac_address": f"fa:16:3e:b6:00:{n:02x}",
                "fixed_ips": [{"ip_address": f"{self.prefix}:{n:x}", "prefixlen": 64}]}
        other = {"port_id": str(uuid.uuid4()), "net_id": str(uuid.uuid4()),
                 "mac_address": f"fa:16:3e:b6:01:{n:02x}",
                 "fixed_ips": [{"ip_address": f"10.79.0.{n}", "prefixlen": 24}]}
        spec = InstanceSpec(str(uuid.uuid4()), f"an-{self.tag}-{n}", "appliance",
                            (mgmt, other))
        self.specs.append(spec)
        return spec, mgmt

    def ns(self, spec: InstanceSpec) -> str:
        return self.backend.netns(spec.id, "appliance")

    def bridge_mac(self) -> str:
        return Path(f"/sys/class/net/{self.br}/address").read_text().strip()

    def cleanup(self) -> None:
        for spec in self.specs:
            with contextlib.suppress(Exception):
                self.backend.delete(spec)
        for spec in self.specs:
            for port in spec.ports:
                sh("ip", "link", "del", self.backend.tap(port["port_id"]), check=False)
                sh("ip", "link", "del", self.backend.bridge(port["net_id"]), check=False)


@pytest.fixture
def lab():
    work = Path(tempfile.mkdtemp(prefix="astara-cnb-"))
    lab = Lab(work)
    yield lab
    lab.cleanup()
    shutil.rmtree(work, ignore_errors=True)


def ip_of(port: dict) -> str:
    return port["fixed_ips"][0]["ip_address"]


def assert_pinned(lab: Lab, spec: InstanceSpec, mgmt: dict) -> None:
    root = entries("neigh", "show", "dev", lab.br)
    assert root[ip_of(mgmt)]["lladdr"] == mgmt["mac_address"]
    assert root[ip_of(mgmt)]["state"] == ["PERMANENT"]
    inside = entries("-n", lab.ns(spec), "neigh", "show", "dev", "eth0")
    assert inside[lab.host_ip]["lladdr"] == lab.bridge_mac()
    assert inside[lab.host_ip]["state"] == ["PERMANENT"]


def test_plug_pins_both_sides_and_unplug_removes_them(lab):
    first, m1 = lab.appliance(0x10)
    lab.backend.create(first)
    assert_pinned(lab, first, m1)
    # The bridge's MAC is its own (set), so a port with a lower MAC never changes it
    # (a change would flush every pin on the bridge).
    assert Path(f"/sys/class/net/{lab.br}/addr_assign_type").read_text().strip() == "3"
    mac = lab.bridge_mac()

    second, m2 = lab.appliance(0x11)
    lab.backend.create(second)
    assert lab.bridge_mac() == mac
    assert_pinned(lab, first, m1)
    assert_pinned(lab, second, m2)
    # the other port's bridge gets nothing
    assert entries("neigh", "show", "dev", lab.backend.bridge(second.ports[1]["net_id"])) == {}

    # Traffic both ways needs no resolution: the entries stay PERMANENT, none is added.
    def ping() -> bool:
        return sh("ping", "-6", "-c1", "-W1", "-I", lab.host_ip, ip_of(m1),
                  check=False).returncode == 0

    wait_for(ping, what="the management address answering the host")
    assert_pinned(lab, first, m1)
    assert set(entries("-n", lab.ns(first), "-6", "neigh", "show", "dev", "eth0")) == \
        {lab.host_ip}

    # the management address was set over rtnetlink: no duplicate detection to wait for
    [eth0] = json.loads(sh("ip", "-j", "-n", lab.ns(first), "addr", "show", "dev",
                           "eth0").stdout)
    mine = [a for a in eth0["addr_info"] if a["local"] == ip_of(m1)]
    assert [(a["prefixlen"], a.get("tentative", False)) for a in mine] == [(64, False)]

    observed = lab.backend.observe()
    assert observed[first.id].pinned == (("fa:16:3e:b6:00:10", ip_of(m1)),)

    # stop sets the links down (the kernel drops their pins); start pins again
    lab.backend.stop(first)
    assert lab.host_ip not in entries("-n", lab.ns(first), "neigh", "show")
    lab.backend.start(first)
    assert_pinned(lab, first, m1)

    lab.backend.detach(first, m1)  # os-interface detach
    root = entries("neigh", "show", "dev", lab.br)
    assert ip_of(m1) not in root
    assert root[ip_of(m2)]["lladdr"] == m2["mac_address"]
    lab.backend.delete(first)
    root = entries("neigh", "show", "dev", lab.br)
    assert root[ip_of(m2)]["lladdr"] == m2["mac_address"]
    lab.backend.delete(second)
    assert not Path(f"/sys/class/net/{lab.br}").exists()


def test_delete_keeps_a_pin_since_given_to_another_port(lab):
    spec, mgmt = lab.appliance(0x20)
    lab.backend.create(spec)
    other, _ = lab.appliance(0x21)
    lab.backend.create(other)  # keeps the bridge
    # the address now belongs to another port (another MAC), pinned by its own plug
    sh("ip", "neigh", "replace", ip_of(mgmt), "lladdr", "fa:16:3e:b6:00:99", "dev", lab.br,
       "nud", "permanent")
    lab.backend.delete(spec)
    assert entries("neigh", "show", "dev", lab.br)[ip_of(mgmt)]["lladdr"] == \
        "fa:16:3e:b6:00:99"


def stored(spec: InstanceSpec) -> reconcile.Stored:
    return reconcile.Stored(spec.id, "active", None, RUNNING, profile="appliance",
                            ports=spec.ports, name=spec.name)


def test_reconcile_restores_a_deleted_pin(lab):
    spec, mgmt = lab.appliance(0x30)
    lab.backend.create(spec)
    rows = [stored(spec)]
    assert reconcile.decide(rows, lab.backend.observe(), set()) == []

    sh("ip", "neigh", "del", ip_of(mgmt), "dev", lab.br)
    sh("ip", "-n", lab.ns(spec), "neigh", "del", lab.host_ip, "dev", "eth0")
    observed = lab.backend.observe()
    assert observed[spec.id].pinned == ()
    repairs = reconcile.decide(rows, observed, set())
    assert [(r.kind, r.replug) for r in repairs] == [("ports", (mgmt,))]
    assert "management neighbours not pinned" in repairs[0].detail

    done = reconcile.apply(None, lab.backend, "host", repairs, rows, observed, {"ports"})
    assert done == [spec.id]
    assert_pinned(lab, spec, mgmt)
    assert reconcile.decide(rows, lab.backend.observe(), set()) == []


def test_reconcile_removes_the_pin_of_a_namespace_deleted_by_hand(lab):
    gone, m1 = lab.appliance(0x40)
    kept, m2 = lab.appliance(0x41)
    lab.backend.create(gone)
    lab.backend.create(kept)
    sh("ip", "netns", "del", lab.ns(gone))  # its veth goes, its pin on the bridge stays
    wait_for(lambda: not Path(f"/sys/class/net/{lab.backend.tap(m1['port_id'])}").exists(),
             what="the veth to go with its namespace")
    assert ip_of(m1) in entries("neigh", "show", "dev", lab.br)

    assert lab.backend.sweep_pins(lab.backend.observe()) == [f"{ip_of(m1)} dev {lab.br}"]
    root = entries("neigh", "show", "dev", lab.br)
    assert ip_of(m1) not in root
    assert root[ip_of(m2)]["lladdr"] == m2["mac_address"]
    assert lab.backend.sweep_pins(lab.backend.observe()) == []


def test_a_sweep_reads_the_namespaces_without_the_lock_and_spares_a_pin_made_meanwhile(lab):
    """Reading every namespace takes seconds at a thousand appliances: a create must not
    wait for it, and a pin it makes meanwhile (unseen by the read) must stay."""
    gone, m1 = lab.appliance(0x50)
    lab.backend.create(gone)
    sh("ip", "netns", "del", lab.ns(gone))
    wait_for(lambda: not Path(f"/sys/class/net/{lab.backend.tap(m1['port_id'])}").exists(),
             what="the veth to go with its namespace")
    observed = lab.backend.observe()
    late, m2 = lab.appliance(0x51)
    read = lab.backend._all_macs
    seen_unlocked = []

    def read_then_plug() -> set[str]:
        macs = read()
        lock = lab.backend._bridge_locks[lab.br]
        seen_unlocked.append(lock.acquire(blocking=False))
        if seen_unlocked[-1]:  # (held: a create here would wait for the sweep forever)
            lock.release()
            lab.backend.create(late)  # pins m2 after the read: the sweep never saw it
        return macs

    lab.backend._all_macs = read_then_plug
    try:
        assert lab.backend.sweep_pins(observed) == []  # the bridge changed: left alone
    finally:
        del lab.backend._all_macs
    assert seen_unlocked == [True]
    root = entries("neigh", "show", "dev", lab.br)
    assert root[ip_of(m2)]["lladdr"] == m2["mac_address"]
    assert ip_of(m1) in root
    # The next pass, with nothing plugged meanwhile, removes the stale one only.
    assert lab.backend.sweep_pins(lab.backend.observe()) == [f"{ip_of(m1)} dev {lab.br}"]
    assert ip_of(m2) in entries("neigh", "show", "dev", lab.br)


def test_links_read_in_process_are_what_ip_prints(lab):
    spec, mgmt = lab.appliance(0x60)
    lab.backend.create(spec)
    links, pins = SubprocessRunner().links(lab.ns(spec))
    printed = json.loads(sh("ip", "-j", "-n", lab.ns(spec), "link", "show").stdout)
    assert [(x["ifname"], x["address"], "UP" in x["flags"], x.get("link_index"))
            for x in links] == \
        [(x["ifname"], x["address"], "UP" in x["flags"], x.get("link_index"))
         for x in printed]
    assert {x["ifname"] for x in links} == {"lo", "eth0", "eth1"}
    permanent = json.loads(sh("ip", "-j", "-n", lab.ns(spec), "neigh", "show", "nud",
                              "permanent").stdout)
    assert [(p["dst"], p["dev"], p["lladdr"]) for p in pins] == \
        [(p["dst"], p["dev"], p["lladdr"]) for p in permanent]
    assert [p["dst"] for p in pins] == [lab.host_ip]
    assert SubprocessRunner().links(f"{lab.ns(spec)}-none") == ([], [])


def test_addresses_are_replaced_in_a_namespace_over_rtnetlink(lab):
    spec, _ = lab.appliance(0x12)
    lab.backend.create(spec)
    runner = SubprocessRunner()
    for _ in range(2):  # a replace of what is there changes nothing
        runner.batch(["addr replace 10.79.1.5/24 dev eth1", "addr replace 10.79.2.5/25 dev eth1"],
                     netns=lab.ns(spec))
    [eth1] = json.loads(sh("ip", "-j", "-n", lab.ns(spec), "-4", "addr", "show", "dev",
                           "eth1").stdout)
    assert sorted((a["local"], a["prefixlen"]) for a in eth1["addr_info"]) == \
        [("10.79.1.5", 24), ("10.79.2.5", 25)]
    with pytest.raises(Exception, match="eth9"):
        runner.batch(["addr replace 10.79.3.5/24 dev eth9"], netns=lab.ns(spec))
