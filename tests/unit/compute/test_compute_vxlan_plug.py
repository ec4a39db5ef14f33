"""The netns backend with and without an overlay, on a FakeRunner: the commands it
runs when a network's bridge is made and removed."""

from __future__ import annotations

import json

import pytest

import astara.compute_service.agent.netns as netns_mod
from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend, bridge_name
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.agent.vxlan import FLOOD

NET = "c0ffee00-0001-4000-8000-00000000000a"
PORT = {"port_id": "0a1b2c3d-0000-4000-8000-000000000001", "net_id": NET,
        "network_name": "n", "mac_address": "fa:16:3e:00:00:01", "fixed_ips": [],
        "port_security_enabled": False}
MGMT = {**PORT, "port_id": "0a1b2c3d-0000-4000-8000-000000000002",
        "net_id": "c0ffee00-0002-4000-8000-00000000000b", "network_name": "astara-mgmt",
        "management": True}


class StubOverlay:
    local = "192.0.2.1"

    def vni(self, net_id: str) -> int:
        return 4242

    def mtu(self) -> int:
        return 1450

    def peers(self, net_id: str) -> frozenset[str]:
        return frozenset({"192.0.2.3", "192.0.2.2"})


def backend(tmp_path, monkeypatch, overlay) -> tuple[NetnsBackend, FakeRunner]:
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    runner = FakeRunner()
    return NetnsBackend(runner, tmp_path / "state", mgmt_host_address="",
                        responders=object(), overlay=overlay), runner  # type: ignore


def plug(b: NetnsBackend, ports) -> None:
    b._plug_all("astara-appliance-i", [(p, f"eth{n}") for n, p in enumerate(ports)], True,
                "appliance")


def test_without_a_tunnel_address_nothing_changes(tmp_path, monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, None)
    plug(b, [PORT])
    assert not [c for c in runner.commands if "vxlan" in c or c[0] == "bridge"]
    assert ["ip", "link", "add", "tap0a1b2c3d-00", "type", "veth", "peer", "name", "eth0",
            "address", PORT["mac_address"], "netns", "astara-appliance-i"] in runner.commands


def test_a_tunnelled_bridge_gets_its_device_peers_and_mtu_not_the_management_one(
        tmp_path, monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, StubOverlay())
    plug(b, [PORT, MGMT])
    dev = b.vxlan_device(4242)
    assert dev == "vxbrq001092"  # named by the VNI (0x1092)
    assert ["ip", "link", "add", dev, "mtu", "1450", "type", "vxlan", "id", "4242", "local",
            "192.0.2.1", "dstport", "4789", "nolearning"] in runner.commands
    assert ["ip", "link", "set", dev, "master", b.bridge(NET), "up"] in runner.commands
    assert runner.commands[-1][0] != "bridge" and ["bridge", "-batch", "-"] in runner.commands
    assert runner.stdin[-1] == (f"fdb append {FLOOD} dev {dev} dst 192.0.2.2\n"
                                f"fdb append {FLOOD} dev {dev} dst 192.0.2.3\n")
    eth0, eth1 = ([c for c in runner.commands if c[:3] == ["ip", "link", "add"]
                   and c[-2:] == ["netns", "astara-appliance-i"] and f"eth{n}" in c][0]
                  for n in (0, 1))
    assert eth0 == ["ip", "link", "add", "tap0a1b2c3d-00", "mtu", "1450", "type", "veth",
                    "peer", "name", "eth0", "mtu", "1450", "address", PORT["mac_address"],
                    "netns", "astara-appliance-i"]
    # the management network (by name) stays on this host: no device, no lower MTU
    assert "mtu" not in eth1
    assert len([c for c in runner.commands if "vxlan" in c]) == 1


class LinkRunner(FakeRunner):
    """Answers ``ip -d -j link show dev`` with a vxlan device of ``vni`` and ``local``."""

    def __init__(self, vni: int, local: str):
        super().__init__()
        self.link = {"linkinfo": {"info_kind": "vxlan",
                                  "info_data": {"id": vni, "local": local}}}

    def run(self, argv, check=True, stdin=None):
        super().run(argv, check, stdin)
        return json.dumps([self.link]) if argv[:5] == ["ip", "-d", "-j", "link", "show"] \
            else ""


def existing(tmp_path, monkeypatch, vni: int, local: str, master: str | None):
    b, _ = backend(tmp_path, monkeypatch, StubOverlay())
    b.runner = runner = LinkRunner(vni, local)
    dev = tmp_path / "net" / b.vxlan_device(4242)
    dev.mkdir(parents=True)
    if master:
        (tmp_path / "net" / master).mkdir(exist_ok=True)
        (dev / "master").symlink_to(tmp_path / "net" / master)
    return b, runner


def test_a_bridge_that_has_its_right_device_gets_no_second_one(tmp_path, monkeypatch):
    b, runner = existing(tmp_path, monkeypatch, 4242, "192.0.2.1", bridge_name("brq", NET))
    plug(b, [PORT])
    assert not [c for c in runner.commands if "vxlan" in c or c[0] == "bridge"
                or "master" in c and c[3] == b.vxlan_device(4242)]
    assert "mtu" in next(c for c in runner.commands if "veth" in c)


def test_a_detached_device_is_set_on_its_bridge_again(tmp_path, monkeypatch):
    b, runner = existing(tmp_path, monkeypatch, 4242, "192.0.2.1", None)
    plug(b, [PORT])
    dev = b.vxlan_device(4242)
    assert ["ip", "link", "set", dev, "master", b.bridge(NET), "up"] in runner.commands
    assert not [c for c in runner.commands if "vxlan" in c or c[0] == "bridge"]


@pytest.mark.parametrize(("vni", "local"), [(4242, "192.0.2.99"), (7, "192.0.2.1")])
def test_a_device_with_another_local_or_vni_is_made_again(tmp_path, monkeypatch, vni, local):
    b, runner = existing(tmp_path, monkeypatch, vni, local, bridge_name("brq", NET))
    plug(b, [PORT])
    dev = b.vxlan_device(4242)
    made = runner.commands.index(["ip", "link", "del", dev])
    assert runner.commands[made + 1][:8] == ["ip", "link", "add", dev, "mtu", "1450", "type",
                                             "vxlan"]
    assert "192.0.2.1" in runner.commands[made + 1] and "4242" in runner.commands[made + 1]
    assert ["bridge", "-batch", "-"] in runner.commands


def test_the_device_goes_with_its_bridge(tmp_path, monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, StubOverlay())
    br, dev = b.bridge(NET), b.vxlan_device(4242)
    (tmp_path / "net" / br / "brif" / dev).mkdir(parents=True)  # only our device is left
    b.delete(InstanceSpec("i", "vm", "appliance", (PORT,)))
    assert runner.commands[-2:] == [["ip", "link", "del", dev], ["ip", "link", "del", br]]
    runner.commands.clear()
    (tmp_path / "net" / br / "brif" / "tapother").mkdir()  # another port: both stay
    b.delete(InstanceSpec("i", "vm", "appliance", (PORT,)))
    assert ["ip", "link", "del", br] not in runner.commands


def test_reconcile_gives_a_bridge_made_before_the_tunnel_address_its_device(
        tmp_path, monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, StubOverlay())
    (tmp_path / "net" / b.bridge(NET)).mkdir(parents=True)  # a bridge, no device
    (tmp_path / "net" / b.bridge(MGMT["net_id"])).mkdir()
    gone = {**PORT, "net_id": "c0ffee00-0003-4000-8000-00000000000c"}  # no bridge here
    dev = b.vxlan_device(4242)
    assert b.ensure_tunnels([PORT, PORT, MGMT, gone]) == [
        f"link add {dev} mtu 1450 type vxlan id 4242 local 192.0.2.1 dstport 4789 "
        "nolearning", f"link set {dev} master {b.bridge(NET)} up"]
    assert runner.commands[-1] == ["bridge", "-batch", "-"]
    assert len([c for c in runner.commands if "vxlan" in c and "add" in c]) == 1
    runner.commands.clear()
    b.overlay = None
    assert b.ensure_tunnels([PORT]) == [] and runner.commands == []


class PlugFirst:
    """A bridge lock whose holder, before the sweep got it, plugged a veth."""

    def __init__(self, brif):
        self.brif = brif

    def __enter__(self):
        (self.brif / "tapnew").mkdir()

    def __exit__(self, *exc):
        return False


def test_a_sweep_rechecks_under_the_lock_and_never_deletes_a_veth(tmp_path, monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, StubOverlay())
    br, dev = b.bridge(NET), b.vxlan_device(4242)
    brif = tmp_path / "net" / br / "brif"
    (brif / dev).mkdir(parents=True)
    b._bridge_locks[br] = PlugFirst(brif)  # type: ignore[assignment]
    assert b.sweep_bridges() == [] and runner.commands == []
    b._del_bridge(br)  # even told to: only our vxlan device goes with the bridge
    assert runner.commands == [["ip", "link", "del", dev], ["ip", "link", "del", br]]


class VxlanLinks(FakeRunner):
    def run(self, argv, check=True, stdin=None):
        super().run(argv, check, stdin)
        if argv == ["ip", "-j", "link", "show", "type", "vxlan"]:
            return json.dumps([{"ifname": "vxbrq001092"}, {"ifname": "vxlan-theirs"},
                               {"ifname": "vxbrq00000a"}])
        return ""


def test_without_a_tunnel_address_our_vxlan_devices_are_removed(tmp_path, monkeypatch):
    b, _ = backend(tmp_path, monkeypatch, None)
    b.runner = runner = VxlanLinks()
    assert b.drop_tunnels() == ["vxbrq00000a", "vxbrq001092"]
    assert runner.commands[1:] == [["ip", "link", "del", "vxbrq00000a"],
                                   ["ip", "link", "del", "vxbrq001092"]]
    b.overlay = StubOverlay()  # type: ignore[assignment]
    runner.commands.clear()
    assert b.drop_tunnels() == [] and runner.commands == []


class AllLinks(FakeRunner):
    """Answers ``ip -d -j link show type vxlan`` with the given devices."""

    def __init__(self, links):
        super().__init__()
        self.links = links

    def run(self, argv, check=True, stdin=None):
        super().run(argv, check, stdin)
        return json.dumps(self.links) if argv[-2:] == ["type", "vxlan"] else ""


def test_reconcile_reads_the_devices_once_and_leaves_a_right_one_alone(tmp_path,
                                                                       monkeypatch):
    b, _ = backend(tmp_path, monkeypatch, StubOverlay())
    dev, br = b.vxlan_device(4242), b.bridge(NET)
    b.runner = runner = AllLinks([{"ifname": dev, "linkinfo": {
        "info_data": {"id": 4242, "local": "192.0.2.1"}}}])
    (tmp_path / "net" / br).mkdir(parents=True)
    (tmp_path / "net" / dev).mkdir()
    (tmp_path / "net" / dev / "master").symlink_to(tmp_path / "net" / br)
    assert b.ensure_tunnels([PORT]) == []
    assert runner.commands == [["ip", "-d", "-j", "link", "show", "type", "vxlan"]]
