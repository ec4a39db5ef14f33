"""The management network across hosts (``management_address_host``): who holds the
address, which MAC the appliances pin, who is whose peer; pure decisions and the netns
backend's lines on a FakeRunner."""

from __future__ import annotations

import json

import pytest

import astara.compute_service.agent.netns as netns_mod
from astara.common.entry import ConfigError
from astara.compute_service import catalog, settings
from astara.compute_service.agent import neighbours, vxlan
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.overlay import HolderView, OverlayError
from astara.compute_service.agent.runner import CommandError, FakeRunner
from astara.compute_service.agent.vxlan import HostRow

ADDRESS = "fdca:3ba5:a17a:acda::1/64"
MGMT_NET = "c0ffee00-0002-4000-8000-00000000000b"
TENANT_NET = "c0ffee00-0003-4000-8000-00000000000c"
MGMT = {"port_id": "0a1b2c3d-0000-4000-8000-000000000002", "net_id": MGMT_NET,
        "network_name": "astara-mgmt", "management": True, "mac_address": "fa:16:3e:00:00:02",
        "fixed_ips": [{"subnet_id": "s", "ip_address": "fdca:3ba5:a17a:acda::10"}],
        "port_security_enabled": True}
NAMED_LIKE_IT = {**MGMT, "port_id": "0a1b2c3d-0000-4000-8000-000000000003",
                 "net_id": TENANT_NET, "mac_address": "fa:16:3e:00:00:03",
                 "management": False}


# pure -------------------------------------------------------------------------------
def test_the_holders_mac_is_derived_from_the_address_alone():
    mac = neighbours.holder_mac(ADDRESS)
    assert mac == neighbours.holder_mac("fdca:3ba5:a17a:acda:0::1/48")  # the address only
    assert mac != neighbours.holder_mac("fdca:3ba5:a17a:acda::2/64")
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast


def test_the_holder_is_a_peer_of_the_management_network_without_a_port_on_it():
    hosts = [HostRow("a", "192.0.2.1", True), HostRow("b", "192.0.2.2", True),
             HostRow("c", "192.0.2.3", True), HostRow("v6", "2001:db8::1", True)]
    ports = [("c", TENANT_NET)]
    assert vxlan.peers_by_network("b", hosts, ports, 4, {MGMT_NET: ("a",)}) == {
        MGMT_NET: frozenset({"192.0.2.1"}), TENANT_NET: frozenset({"192.0.2.3"})}
    assert vxlan.peers_by_network("b", hosts, ports, 4) == {
        TENANT_NET: frozenset({"192.0.2.3"})}
    # not itself, not a dead holder, not one of the other family
    assert vxlan.peers_by_network("a", hosts, [], 4, {MGMT_NET: ("a",)}) == {}
    dead = [HostRow("a", "192.0.2.1", False)]
    assert vxlan.peers_by_network("b", dead, [], 4, {MGMT_NET: ("a",)}) == {}
    assert vxlan.peers_by_network("b", hosts, [], 4, {MGMT_NET: ("v6",)}) == {}


def test_only_an_appliances_management_port_names_the_management_network():
    appliance, tenant = catalog.APPLIANCE_IMAGE, catalog.TENANT_IMAGE
    rows = [(appliance, [MGMT, NAMED_LIKE_IT]),  # its second port: a router's interface
            (tenant, [NAMED_LIKE_IT]),  # a tenant naming its network like it
            (appliance, []), (appliance, ["junk"]), (appliance, None),
            (tenant, [MGMT])]  # marked, but on a tenant's instance: never
    assert vxlan.management_networks(rows, appliance) == {MGMT_NET}
    # an appliance's port on a tenant's network named like it (unmarked): not it
    assert vxlan.management_networks([(appliance, [NAMED_LIKE_IT])], appliance) == set()


def test_a_holder_needs_a_tunnel_address():
    assert settings.management_address_host(" a ", "192.0.2.1") == ("a",)
    assert settings.management_address_host("b, a,,b ", "192.0.2.1") == ("b", "a")
    assert settings.management_address_host("", "") == ()
    with pytest.raises(ConfigError, match="needs a tunnel_address"):
        settings.management_address_host("a", "")


# the backend's lines -------------------------------------------------------------------
class StubOverlay:
    local = "192.0.2.1"

    def vni(self, net_id: str) -> int:
        return {MGMT_NET: 4242}.get(net_id, 77)

    def mtu(self) -> int:
        return 1450

    def peers(self, net_id: str) -> frozenset[str]:
        return frozenset({"192.0.2.2"})

    def management_networks(self) -> frozenset[str]:
        return frozenset({MGMT_NET})

    def holder_view(self) -> HolderView:  # no holder claimed: the one-address fallback
        return HolderView({}, frozenset(), frozenset({MGMT_NET}))

    def sync(self) -> list[str]:
        return []


def backend(tmp_path, monkeypatch, host: str, holder: str = "a",
            overlay: object | None = None) -> tuple[NetnsBackend, FakeRunner]:
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    runner = FakeRunner()
    return NetnsBackend(runner, tmp_path / "state", mgmt_host_address=ADDRESS,
                        responders=object(),  # type: ignore[arg-type]
                        overlay=overlay or StubOverlay(),  # type: ignore[arg-type]
                        mgmt_address_host=holder, host=host), runner


def plug(b: NetnsBackend, port: dict, profile: str = "appliance") -> None:
    b._plug_all("ns-i", [(port, "eth0")], True, profile)


def lines(runner: FakeRunner) -> list[str]:
    return [" ".join(c) for c in runner.commands]


def test_the_holder_holds_the_address_with_its_mac_and_tunnels_the_network(tmp_path,
                                                                            monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "a")
    plug(b, MGMT)
    br, mac = b.bridge(MGMT_NET), neighbours.holder_mac(ADDRESS)
    out = lines(runner)
    assert f"ip link add {br} address {mac} type bridge mcast_snooping 0" in out
    assert f"ip addr replace {ADDRESS} dev {br} nodad" in out
    assert any("type vxlan id 4242 " in line for line in out)
    assert f"ip -n ns-i neigh replace fdca:3ba5:a17a:acda::1 lladdr {mac} dev eth0 " \
           f"nud permanent" in out


def test_another_host_pins_the_holders_mac_holds_no_address_and_another_mac(tmp_path,
                                                                            monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "b")
    plug(b, MGMT)
    br, mac = b.bridge(MGMT_NET), neighbours.holder_mac(ADDRESS)
    out = lines(runner)
    assert not [line for line in out if "addr replace" in line]
    made = next(line for line in out if line.startswith(f"ip link add {br} "))
    assert mac not in made
    assert any("type vxlan id 4242 " in line for line in out)
    assert f"ip -n ns-i neigh replace fdca:3ba5:a17a:acda::1 lladdr {mac} dev eth0 " \
           f"nud permanent" in out
    assert any(line.startswith("nft") for line in out)  # its anti-spoofing stays


def test_a_former_holders_bridge_gives_the_holders_mac_up(tmp_path, monkeypatch):
    b, _ = backend(tmp_path, monkeypatch, "b")
    path = tmp_path / "net" / b.bridge(MGMT_NET)
    path.mkdir(parents=True)
    (path / "address").write_text(neighbours.holder_mac(ADDRESS) + "\n")
    (path / "addr_assign_type").write_text("3\n")
    lines_, mac = b._bridge_mac(b.bridge(MGMT_NET))
    assert mac != neighbours.holder_mac(ADDRESS) and lines_ == [
        f"link set {b.bridge(MGMT_NET)} address {mac}"]


def test_a_tenants_network_named_like_it_gets_nothing_of_the_management_network(
        tmp_path, monkeypatch):
    for host in ("a", "b"):
        b, runner = backend(tmp_path, monkeypatch, host)
        plug(b, NAMED_LIKE_IT, "tenant")
        out = lines(runner)
        assert not [line for line in out if "addr replace" in line or "neigh" in line
                    or neighbours.holder_mac(ADDRESS) in line]
        assert any("type vxlan id 77 " in line for line in out)  # its own VNI


def test_the_holder_makes_its_management_bridge_for_appliances_elsewhere(tmp_path,
                                                                         monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "a")
    br = b.bridge(MGMT_NET)
    made = b.sync_tunnels()
    assert made[0] == (f"link add {br} address {neighbours.holder_mac(ADDRESS)} type bridge "
                       "mcast_snooping 0")
    assert f"addr replace {ADDRESS} dev {br} nodad" in made
    assert any("type vxlan id 4242 " in line for line in made)
    assert runner.stdin[-1].endswith("dst 192.0.2.2\n")  # its flood entries
    # kept with no port of its own: neither a delete nor the sweep removes it
    (tmp_path / "net" / br / "brif").mkdir(parents=True)
    (tmp_path / "net" / br / "address").write_text(neighbours.holder_mac(ADDRESS))
    runner.commands.clear()
    b._drop_bridge_if_empty(MGMT)
    assert b.sweep_bridges() == [] and runner.commands == []


@pytest.mark.parametrize(("host", "holder"), [("b", "a"), ("a", "")])
def test_no_one_else_makes_a_management_bridge_by_itself(tmp_path, monkeypatch, host, holder):
    b, runner = backend(tmp_path, monkeypatch, host, holder)
    assert b.ensure_management() == [] and runner.commands == []


def test_without_a_holder_the_management_network_stays_on_each_host(tmp_path, monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "a", holder="")
    plug(b, MGMT)
    out = lines(runner)
    assert not [line for line in out if "vxlan" in line]
    assert f"ip addr replace {ADDRESS} dev {b.bridge(MGMT_NET)} nodad" in out
    assert neighbours.holder_mac(ADDRESS) not in " ".join(out)


OLD_NET = "deadbeef-0000-4000-8000-000000000001"  # a management network of an earlier run


def holder_mac_bridge(tmp_path, br: str) -> None:
    """Bridge ``br`` as sysfs shows it: no member, the holder's MAC."""
    (tmp_path / "net" / br / "brif").mkdir(parents=True)
    (tmp_path / "net" / br / "address").write_text(neighbours.holder_mac(ADDRESS) + "\n")


def test_the_holder_sweeps_an_emptied_management_bridge_no_appliance_uses(tmp_path,
                                                                          monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "a")
    old, current = b.bridge(OLD_NET), b.bridge(MGMT_NET)
    holder_mac_bridge(tmp_path, old)
    b.sync_tunnels()  # reads the management networks: MGMT_NET only
    holder_mac_bridge(tmp_path, current)
    runner.commands.clear()
    assert b.sweep_bridges() == [old]  # the current one stays, empty
    assert lines(runner) == [f"ip link del {old}"]  # its address goes with it
    runner.commands.clear()
    b._drop_bridge_if_empty({**MGMT, "net_id": OLD_NET})
    assert lines(runner) == [f"ip addr del {ADDRESS} dev {old}", f"ip link del {old}"]


class ManagementRead(StubOverlay):
    """The management networks as the database says now (``nets``), or a failed read."""

    def __init__(self, nets: frozenset[str] | None):
        self.nets = nets

    def management_networks(self) -> frozenset[str]:
        if self.nets is None:
            raise OverlayError("database unreachable")
        return self.nets


@pytest.mark.parametrize("nets", [None, frozenset()], ids=["failed read", "empty read"])
def test_on_a_failed_or_empty_read_the_holder_sweeps_none(tmp_path, monkeypatch, nets):
    """Empty: ports stored before the ``management`` flag, or no appliance live for a
    moment; every host's appliances reach the address through this bridge."""
    b, runner = backend(tmp_path, monkeypatch, "a", overlay=ManagementRead(nets))
    holder_mac_bridge(tmp_path, b.bridge(OLD_NET))
    b.sync_tunnels()
    runner.commands.clear()
    assert b.sweep_bridges() == [] and runner.commands == []


def test_the_holder_sweeps_on_the_current_read_not_an_older_one(tmp_path, monkeypatch):
    """An appliance booting elsewhere since the last read keeps its bridge."""
    overlay = ManagementRead(frozenset({OLD_NET}))
    b, _ = backend(tmp_path, monkeypatch, "a", overlay=overlay)
    b.sync_tunnels()  # read while the old network was the management one
    holder_mac_bridge(tmp_path, b.bridge(MGMT_NET))
    overlay.nets = frozenset({MGMT_NET})  # a new appliance on MGMT_NET, elsewhere
    assert b.sweep_bridges() == []


def test_old_ports_without_the_flag_name_no_management_network():
    old = {k: v for k, v in MGMT.items() if k != "management"}
    assert vxlan.management_networks([(catalog.APPLIANCE_IMAGE, [old])],
                                     catalog.APPLIANCE_IMAGE) == frozenset()


class AddressRunner(FakeRunner):
    """``ip -j addr show dev`` answering that the management address is held."""

    def run(self, argv, check=True, stdin=None):
        super().run(argv, check, stdin)
        if argv[:3] == ["ip", "-j", "addr"]:
            return json.dumps([{"ifname": argv[-1], "addr_info": [
                {"family": "inet6", "local": "fdca:3ba5:a17a:acda::1", "prefixlen": 64}]}])
        return ""


@pytest.mark.parametrize("host", ["a", "b"])
def test_a_host_not_holding_it_removes_the_management_address_once(tmp_path, monkeypatch,
                                                                   host):
    b, _ = backend(tmp_path, monkeypatch, host)
    b.runner = runner = AddressRunner()
    br = b.bridge(MGMT_NET)
    (tmp_path / "net" / br).mkdir(parents=True)  # plugged before the option was set
    made = b.ensure_tunnels([MGMT, NAMED_LIKE_IT])
    removed = f"addr del {ADDRESS} dev {br}"
    assert (removed in made) is (host == "b")  # the holder keeps it
    runner.commands.clear()
    assert removed not in b.ensure_tunnels([MGMT])  # read once per bridge
    assert not [c for c in runner.commands if c[:3] == ["ip", "-j", "addr"]]


class FailingOnce(AddressRunner):
    """An ``ip`` batch that fails the first time (a vxlan line refused, say)."""

    failed = False

    def batch(self, lines, netns=None):
        if not self.failed:
            self.failed = True
            raise CommandError(["ip", "-batch", "-"], 2, "RTNETLINK answers: File exists")
        super().batch(lines, netns)


def test_a_failed_removal_is_tried_again(tmp_path, monkeypatch):
    b, _ = backend(tmp_path, monkeypatch, "b")
    b.runner = FailingOnce()
    br = b.bridge(MGMT_NET)
    (tmp_path / "net" / br).mkdir(parents=True)
    removed = f"addr del {ADDRESS} dev {br}"
    assert b.ensure_tunnels([MGMT]) == []  # the batch failed: nothing applied
    assert removed in b.ensure_tunnels([MGMT])


class SilentOnce(AddressRunner):
    """``ip -j addr show`` failing (no output) the first time."""

    silent = True

    def run(self, argv, check=True, stdin=None):
        out = super().run(argv, check, stdin)
        if argv[:3] == ["ip", "-j", "addr"] and self.silent:
            self.silent = False
            return ""
        return out


def test_a_failed_address_read_is_read_again(tmp_path, monkeypatch):
    b, _ = backend(tmp_path, monkeypatch, "b")
    b.runner = SilentOnce()
    br = b.bridge(MGMT_NET)
    (tmp_path / "net" / br).mkdir(parents=True)
    removed = f"addr del {ADDRESS} dev {br}"
    assert removed not in b.ensure_tunnels([MGMT])  # nothing known yet
    assert removed in b.ensure_tunnels([MGMT])


def test_an_unmarked_port_on_the_network_does_not_hide_the_management_one(tmp_path,
                                                                         monkeypatch):
    b, _ = backend(tmp_path, monkeypatch, "b")
    b.runner = AddressRunner()
    br = b.bridge(MGMT_NET)
    (tmp_path / "net" / br).mkdir(parents=True)
    old = {k: v for k, v in MGMT.items() if k != "management"}  # stored before the flag
    assert f"addr del {ADDRESS} dev {br}" in b.ensure_tunnels([MGMT, old])


def test_holds_address_reads_ip_json():
    shown = '[{"ifname": "brq1", "addr_info": [{"local": "fdca:3ba5:a17a:acda::1"}]}]'
    assert netns_mod.holds_address(shown, ADDRESS)
    assert not netns_mod.holds_address(shown, "fdca:3ba5:a17a:acda::2/64")
    assert not netns_mod.holds_address("", ADDRESS)
    assert not netns_mod.holds_address("junk", ADDRESS)
    assert not netns_mod.holds_address('[{"addr_info": [{"local": 5}]}]', ADDRESS)
