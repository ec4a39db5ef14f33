"""Pinned management neighbours: the lines the netns backend runs and what reconcile sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from astara.compute_service.agent import neighbours as nb
from astara.compute_service.agent.backend import InstanceSpec, Observed
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.reconcile import Repair, Stored, decide
from astara.compute_service.agent.responders import ProcessResponders
from astara.compute_service.agent.runner import FakeRunner

MGMT = {"port_id": "pm", "net_id": "n-mgmt", "network_name": "astara-mgmt", "management": True,
        "mac_address": "FA:16:3E:00:00:01",
        "fixed_ips": [{"ip_address": "fdca:3ba5:a17a:acda:0::10"},
                      {"ip_address": "192.0.2.10"}, {"ip_address": "not-an-ip"}]}
OTHER = {"port_id": "po", "net_id": "n-other", "mac_address": "fa:16:3e:00:00:02",
         "fixed_ips": [{"ip_address": "10.0.0.5"}]}
PAIRS = frozenset({("fa:16:3e:00:00:01", "fdca:3ba5:a17a:acda::10"),
                   ("fa:16:3e:00:00:01", "192.0.2.10")})


def test_bridge_mac_is_locally_administered_unicast():
    assert nb.bridge_mac(bytes([0xFF, 1, 2, 3, 4, 5])) == "fe:01:02:03:04:05"
    assert nb.bridge_mac(bytes(6)) == "02:00:00:00:00:00"


NAMED_LIKE_IT = {**MGMT, "management": False}


@pytest.mark.parametrize("port, profile, expected", [
    (MGMT, "appliance", PAIRS),  # marked by the compute API
    (MGMT, "tenant", frozenset()),  # only appliances
    (OTHER, "appliance", frozenset()),  # only the management port
    # the network's name is a tenant's to write: it never makes a management port
    (NAMED_LIKE_IT, "appliance", frozenset()),
    ({k: v for k, v in MGMT.items() if k != "management"}, "appliance", frozenset()),
    ({**MGMT, "management": "yes"}, "appliance", frozenset()),  # only True counts
])
def test_wanted_pins(port, profile, expected):
    assert nb.wanted(port, profile) == expected


def test_pin_lines_replace_permanent_entries():
    assert nb.pin_lines(PAIRS, "brq1") == [
        "neigh replace 192.0.2.10 lladdr fa:16:3e:00:00:01 dev brq1 nud permanent",
        "neigh replace fdca:3ba5:a17a:acda::10 lladdr fa:16:3e:00:00:01 dev brq1 "
        "nud permanent"]
    assert nb.host_pin_lines("fdca::1/64", "02:aa:bb:cc:dd:ee", "eth0") == [
        "neigh replace fdca::1 lladdr 02:aa:bb:cc:dd:ee dev eth0 nud permanent"]
    assert nb.host_pin_lines("", "02:aa:bb:cc:dd:ee", "eth0") == []


def test_unpin_only_what_still_names_the_port():
    found = [{"dst": "fdca:3ba5:a17a:acda::10", "lladdr": "fa:16:3e:00:00:01",
              "state": ["PERMANENT"]},
             # the address went to another port since: its pin stays
             {"dst": "192.0.2.10", "lladdr": "fa:16:3e:00:00:99", "state": ["PERMANENT"]},
             # a dynamic entry is the kernel's
             {"dst": "192.0.2.11", "lladdr": "fa:16:3e:00:00:01", "state": ["REACHABLE"]}]
    assert nb.unpin_lines(found, PAIRS, "brq1") == [
        "neigh del fdca:3ba5:a17a:acda::10 dev brq1"]


def test_complete_needs_both_sides():
    root = [{"dst": "fdca::10", "dev": "brq1", "lladdr": "fa:16:3e:00:00:01",
             "state": ["PERMANENT"]},
            {"dst": "fdca::11", "dev": "brq1", "lladdr": "fa:16:3e:00:00:09",
             "state": ["PERMANENT"]}]
    links = {"eth0": {"address": "fa:16:3e:00:00:01"}, "eth1": {"address": "fa:16:3e:00:00:02"}}
    inside = [{"dst": "fdca::1", "dev": "eth0", "lladdr": "02:00:00:00:00:aa",
               "state": ["PERMANENT"]}]
    macs = {"brq1": "02:00:00:00:00:aa"}
    assert nb.complete(nb.by_mac(root), macs, links, inside, "fdca::1/64") == \
        (("fa:16:3e:00:00:01", "fdca::10"),)
    # the inside entry names another MAC than the bridge's (it changed): not pinned
    assert nb.complete(nb.by_mac(root), {"brq1": "02:00:00:00:00:bb"}, links, inside,
                       "fdca::1/64") == ()
    assert nb.complete(nb.by_mac(root), macs, links, [], "fdca::1/64") == ()
    assert nb.complete({}, macs, links, inside, "fdca::1/64") == ()


def test_complete_finds_each_namespaces_pins_in_the_hosts_indexed_once_per_pass():
    # A host of many appliances: the pass indexes the root's pins by MAC once, and each
    # namespace finds its own (upper-case MACs, another bridge, a dynamic entry).
    root = [{"dst": f"fdca::{i:x}", "dev": "brq1" if i % 2 else "brq2",
             "lladdr": f"FA:16:3E:00:{i // 256:02x}:{i % 256:02x}",
             "state": ["PERMANENT"] if i % 7 else ["REACHABLE"]} for i in range(1, 600)]
    macs = {"brq1": "02:00:00:00:00:aa", "brq2": "02:00:00:00:00:bb"}
    index = nb.by_mac(root)
    assert sum(len(v) for v in index.values()) == sum(1 for i in range(1, 600) if i % 7)
    for i in (3, 4, 7, 300):
        links = {"eth0": {"address": f"fa:16:3e:00:{i // 256:02x}:{i % 256:02x}"}}
        inside = [{"dst": "fdca::1", "dev": "eth0",
                   "lladdr": macs["brq1" if i % 2 else "brq2"], "state": ["PERMANENT"]}]
        want = () if i % 7 == 0 else ((links["eth0"]["address"], f"fdca::{i:x}"),)
        assert nb.complete(index, macs, links, inside, "fdca::1/64") == want


def backend(tmp_path: Path, runner: FakeRunner) -> NetnsBackend:
    return NetnsBackend(runner, tmp_path, bridge_prefix="zzqt", netns_prefix="zzt-vm-",
                        appliance_prefix="zzt-app-",
                        mgmt_host_address="fdca::1/64",
                        responders=ProcessResponders(runner, "python"))


def test_plug_pins_in_the_plug_batches(tmp_path):
    runner = FakeRunner()
    be = backend(tmp_path, runner)
    be.create(InstanceSpec("a1", "ak", "appliance", (MGMT, OTHER)))
    lines = [" ".join(c) for c in runner.commands]
    br, other = be.bridge("n-mgmt"), be.bridge("n-other")
    add = next(line for line in lines if line.startswith(f"ip link add {br} "))
    mac = add.split()[5]
    assert add == f"ip link add {br} address {mac} type bridge mcast_snooping 0"
    assert nb.bridge_mac(bytes.fromhex(mac.replace(":", ""))) == mac
    assert f"ip link add {other} type bridge" in lines  # no fixed MAC elsewhere
    tap = be.tap("pm")
    pins = [f"ip neigh replace 192.0.2.10 lladdr fa:16:3e:00:00:01 dev {br} nud permanent",
            f"ip neigh replace fdca:3ba5:a17a:acda::10 lladdr fa:16:3e:00:00:01 dev {br} "
            "nud permanent"]
    # after the port is on the bridge, in the same batch; only on the management bridge;
    # its MAC a static entry of the bridge's table on its tap first (none elsewhere)
    at = lines.index(f"ip link set {tap} master {br} up")
    assert lines[at + 1] == f"ip fdb replace fa:16:3e:00:00:01 dev {tap} master static"
    assert [line for line in lines if " fdb " in line] == [lines[at + 1]]
    assert lines[at + 2:at + 4] == pins
    assert [line for line in lines if "neigh" in line and "-n" not in line] == pins
    inside = [line for line in lines if line.startswith("ip -n zzt-app-a1 neigh")]
    assert inside == [f"ip -n zzt-app-a1 neigh replace fdca::1 lladdr {mac} dev eth0 "
                      "nud permanent"]
    assert lines.index(inside[0]) > lines.index("ip -n zzt-app-a1 link set eth0 up")


def test_held_ipv6_addresses_are_read_from_if_inet6():
    text = ("fdca0000000000000000000000000001 0c 40 00 80 zzqtnmgmt\n"
            "fe800000000000000000000000000001 0c 40 20 c0 zzqtnmgmt\n"  # tentative
            "fd000000000000000000000000000005 0d 80 00 08 brqx\n"      # DAD failed
            "not a line\n")
    from astara.compute_service.agent.netns import ipv6_held

    assert ipv6_held(text) == {("zzqtnmgmt", "fdca::1/64")}


def test_a_plug_writes_the_host_address_only_where_the_bridge_lacks_it(tmp_path,
                                                                       monkeypatch):
    """Writing an address held already made the bridge send two multicast frames,
    flooded to every appliance on it: each plug of a thousand did."""
    import astara.compute_service.agent.netns as netns_mod

    inet6 = tmp_path / "if_inet6"
    monkeypatch.setattr(netns_mod, "IF_INET6", inet6)
    runner = FakeRunner()
    be = backend(tmp_path, runner)
    br = be.bridge("n-mgmt")
    address = f"ip addr replace fdca::1/64 dev {br} nodad"
    be.create(InstanceSpec("a1", "ak", "appliance", (MGMT,)))  # no file: not known held
    assert address in [" ".join(c) for c in runner.commands]
    inet6.write_text(f"fdca0000000000000000000000000001 0c 40 00 80 {br}\n")
    runner.commands.clear()
    be.create(InstanceSpec("a2", "ak", "appliance", ({**MGMT, "port_id": "pm2"},)))
    lines = [" ".join(c) for c in runner.commands]
    assert any(line.startswith("ip link add tappm2 ") for line in lines)  # plugged
    assert address not in lines
    inet6.write_text(f"fdca0000000000000000000000000001 0c 30 00 80 {br}\n")  # a /48
    runner.commands.clear()
    be.create(InstanceSpec("a3", "ak", "appliance", ({**MGMT, "port_id": "pm3"},)))
    assert address in [" ".join(c) for c in runner.commands]


def test_tenants_and_a_host_without_management_address_pin_nothing(tmp_path):
    runner = FakeRunner()
    backend(tmp_path, runner).create(InstanceSpec("t1", "vm", "tenant", (OTHER,)))
    runner2 = FakeRunner()
    NetnsBackend(runner2, tmp_path, mgmt_host_address="") \
        .create(InstanceSpec("a1", "ak", "appliance", (MGMT,)))
    for r in (runner, runner2):
        assert not [c for c in r.commands if "neigh" in c]
        assert not [c for c in r.commands if "address" in c and "bridge" in c]


def test_reconcile_replugs_an_unpinned_management_port():
    mgmt = {**MGMT, "fixed_ips": [{"ip_address": "fdca::10"}]}
    stored = Stored("i", "active", None, 1, profile="appliance", ports=(mgmt, OTHER))
    macs = ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
    pinned = Observed("i", True, macs, "appliance",
                      pinned=(("fa:16:3e:00:00:01", "fdca::10"),))
    assert decide([stored], {"i": pinned}, set()) == []
    lost = Observed("i", True, macs, "appliance", pinned=())
    assert decide([stored], {"i": lost}, set()) == [
        Repair("ports", "i", None, {}, "management neighbours not pinned: pm",
               replug=(mgmt,))]
    # a backend that pins nothing reports None: never drift
    assert decide([stored], {"i": Observed("i", True, macs, "appliance")}, set()) == []


def test_neighbour_limits_warn_once_naming_the_sysctl():
    from astara.compute_service.agent import neighbour_limits as limits
    assert limits.needed(200) == 528
    assert limits.warning({"ipv4": 1024, "ipv6": 1024}, 200) is None
    line = limits.warning({"ipv4": 4096, "ipv6": 1024}, 1000)
    assert line is not None and "\n" not in line
    assert "net.ipv6.neigh.default.gc_thresh3 = 1024" in line
    assert "sysctl -w net.ipv6.neigh.default.gc_thresh3=2128," in line
    assert "ipv4" not in line
    assert limits.warning({}, 1000) is None  # not the root namespace: nothing to say


def test_neighbour_limits_read_the_host(tmp_path):
    from astara.compute_service.agent import neighbour_limits as limits
    (tmp_path / "ipv4/neigh/default").mkdir(parents=True)
    (tmp_path / "ipv4/neigh/default/gc_thresh3").write_text("1024\n")
    assert limits.read(tmp_path) == {"ipv4": 1024}
    assert limits.read_backlog(tmp_path) is None
    (tmp_path / "core").mkdir()
    (tmp_path / "core/netdev_max_backlog").write_text("1000\n")
    assert limits.read_backlog(tmp_path) == 1000


def test_a_backlog_smaller_than_a_broadcast_to_every_instance_is_said():
    from astara.compute_service.agent import neighbour_limits as limits
    assert limits.backlog_warning(1000, 200) is None
    assert limits.backlog_warning(None, 5000) is None  # unreadable: nothing to say
    line = limits.backlog_warning(1000, 2000)
    assert line is not None and "\n" not in line
    assert "net.core.netdev_max_backlog = 1000" in line
    assert "sysctl -w net.core.netdev_max_backlog=2128)" in line


def test_a_stopped_instances_unpinned_neighbours_are_no_drift():
    # its links are down, so its pins are always missing: replugging every pass is noise
    mgmt = {**MGMT, "fixed_ips": [{"ip_address": "fdca::10"}]}
    stored = Stored("i", "stopped", None, 4, profile="appliance", ports=(mgmt, OTHER))
    macs = ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
    stopped = Observed("i", False, macs, "appliance", pinned=())
    assert decide([stored], {"i": stopped}, set()) == []


def test_a_tenant_instance_on_a_network_named_like_management_gets_no_host_address(tmp_path):
    """A tenant may name its own network like the management network: its bridge must
    not get the host's management address (nor a fixed MAC, nor pins)."""
    runner = FakeRunner()
    be = backend(tmp_path, runner)
    be.create(InstanceSpec("t2", "vm", "tenant", (MGMT,)))
    lines = [" ".join(c) for c in runner.commands]
    assert not [line for line in lines if "fdca::1/64" in line]
    assert not [line for line in lines if "neigh" in line]
    assert f"ip link add {be.bridge('n-mgmt')} type bridge" in lines


def test_an_appliance_port_on_a_network_only_named_like_management_gets_nothing(tmp_path):
    """The orchestrator boots an appliance with a port on a tenant's network the tenant
    called ``astara-mgmt``: unmarked by the compute API, it gets no host address, no
    fixed bridge MAC and no pins (the management port beside it still does)."""
    runner = FakeRunner()
    be = backend(tmp_path, runner)
    tenant = {**NAMED_LIKE_IT, "port_id": "pt", "net_id": "n-tenant",
              "mac_address": "fa:16:3e:00:00:03", "fixed_ips": [{"ip_address": "10.1.0.5"}]}
    be.create(InstanceSpec("a2", "ak", "appliance", (MGMT, tenant)))
    lines = [" ".join(c) for c in runner.commands]
    br = be.bridge("n-tenant")
    assert f"ip link add {br} type bridge" in lines  # no fixed MAC
    assert not [line for line in lines if f"dev {br}" in line
                and ("fdca::1/64" in line or "neigh" in line)]
    assert [line for line in lines if "fdca::1/64" in line] == [
        f"ip addr replace fdca::1/64 dev {be.bridge('n-mgmt')} nodad"]


def test_a_plug_turns_ipv6_off_on_the_devices_it_makes_but_a_management_bridge(tmp_path):
    runner = FakeRunner()
    be = backend(tmp_path, runner)
    be.create(InstanceSpec("a1", "ak", "appliance", (MGMT, OTHER)))
    lines = [" ".join(c) for c in runner.commands]
    br, other, taps = be.bridge("n-mgmt"), be.bridge("n-other"), [be.tap("pm"), be.tap("po")]
    host = [line for line in lines if line.startswith("sysctl net.")]
    assert host == ["sysctl " + " ".join(f"net.ipv6.conf.{dev}.disable_ipv6=1"
                                      for dev in [other, *taps])]
    at = lines.index(host[0])
    # after each device is made, before any goes up or onto its bridge
    for dev in [other, *taps]:
        assert max(i for i, line in enumerate(lines)
                   if line.startswith(f"ip link add {dev} ")) < at
    assert at < min(lines.index(f"ip link set {other} up"),
                    *(i for i, line in enumerate(lines)
                      if any(line.startswith(f"ip link set {tap} master") for tap in taps)))
    assert br not in host[0]  # it holds the host's management address


def test_a_tenant_server_on_the_management_network_leaves_its_bridge_ipv6(tmp_path):
    # turning it off would drop the host's management address held there
    runner = FakeRunner()
    be = backend(tmp_path, runner)
    be.create(InstanceSpec("t1", "vm", "tenant", (MGMT, OTHER)))
    assert runner.ipv6_off == {be.bridge("n-other"), be.tap("pm"), be.tap("po")}


def test_ipv6_is_written_only_where_it_differs_and_skipped_where_there_is_none(
        tmp_path, monkeypatch):
    from astara.compute_service.agent import runner as runner_module
    conf = tmp_path / "conf"
    for dev, value in (("tapon", "0"), ("tapoff", "1"), ("brmgmt", "1")):
        (conf / dev).mkdir(parents=True)
        (conf / dev / "disable_ipv6").write_text(value + "\n")
    monkeypatch.setattr(runner_module, "IPV6_CONF", conf)
    real = runner_module.SubprocessRunner()
    # tapgone: no IPv6 there (an MTU below 1280, or IPv6 off on the host)
    assert real.set_ipv6(["tapon", "tapoff", "tapgone"], enabled=False) == ["tapon"]
    assert real.set_ipv6(["brmgmt"], enabled=True) == ["brmgmt"]
    assert {dev: (conf / dev / "disable_ipv6").read_text().strip()
            for dev in ("tapon", "tapoff", "brmgmt")} == {
        "tapon": "1", "tapoff": "1", "brmgmt": "0"}
