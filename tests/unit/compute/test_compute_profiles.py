"""Appliance profile and port records: what the backend configures, from plain data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from astara.compute_service.agent import profiles
from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.responders import ProcessResponders
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.api import ports
from astara.compute_service.api.bodies import NetworkRequest
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import FakeNetwork


@pytest.mark.parametrize("fixed, expected", [
    ([{"subnet_id": "s", "ip_address": "fdca::10", "prefixlen": 64}], ["fdca::10/64"]),
    ([{"subnet_id": "s", "ip_address": "10.0.0.5", "prefixlen": 24}], ["10.0.0.5/24"]),
    ([{"subnet_id": "s", "ip_address": "fdca::10"}], ["fdca::10/64"]),
    ([{"subnet_id": "s", "ip_address": "10.0.0.5"}], ["10.0.0.5/32"]),
    ([], []),
])
def test_addresses_of_a_port(fixed, expected):
    assert profiles.addresses({"fixed_ips": fixed}) == expected


def configured_addresses(commands: list[list[str]]) -> set[tuple[str, str, str]]:
    """(namespace, interface, address/len) of each ``ip addr add|replace`` run."""
    out = set()
    for argv in commands:
        words = argv[argv.index("-n") + 2:] if "-n" in argv else argv[1:]
        if argv[0] == "ip" and len(words) > 2 and words[0] in ("addr", "address") \
                and words[1] in ("add", "replace"):
            out.add((argv[argv.index("-n") + 1] if "-n" in argv else "",
                     words[words.index("dev") + 1], words[2]))
    return out


def test_appliance_profile_configures_only_the_management_address(tmp_path):
    runner = FakeRunner()
    mgmt = {"port_id": "m", "net_id": "n0", "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"subnet_id": "s", "ip_address": "fdca::10", "prefixlen": 64}]}
    other = {"port_id": "o", "net_id": "n1", "mac_address": "fa:16:3e:00:00:02",
             "fixed_ips": [{"subnet_id": "t", "ip_address": "10.0.0.5", "prefixlen": 24}]}
    spec = InstanceSpec("i", "r1", "appliance", (mgmt, other))
    console = profiles.start(runner, spec, "astara-appliance-i", tmp_path, ["eth0", "eth1"],
                             ProcessResponders(runner, "python"))
    assert profiles.management_addresses(spec) == ["fdca::10/64"]
    assert configured_addresses(runner.commands) == {("astara-appliance-i", "eth0",
                                                      "fdca::10/64")}
    assert runner.processes == {}
    assert "fdca::10/64" in console


def test_tenant_profile_starts_its_processes(tmp_path):
    runner = FakeRunner()
    spec = InstanceSpec("i", "vm", "tenant", ())
    profiles.start(runner, spec, "ns", tmp_path, ["eth0"], ProcessResponders(runner, "python"))
    assert sorted(p.name for p in runner.processes) == ["dhclient-eth0.pid", "responder.pid"]


@pytest.mark.parametrize("name, expected", [
    ("astara-vm-abc", ("tenant", "abc")),
    ("astara-appliance-abc", ("appliance", "abc")),
    ("astara-vm-", None),
    ("other-abc", None),
])
def test_namespace_names_of_both_profiles(name, expected):
    backend = NetnsBackend(FakeRunner(), Path("/nonexistent"))
    assert backend.parse_netns(name) == expected
    if expected:
        assert backend.netns(expected[1], expected[0]) == name


def test_overlapping_prefixes_are_refused():
    with pytest.raises(ValueError):
        NetnsBackend(FakeRunner(), Path("/x"), netns_prefix="astara-", appliance_prefix="astara-a")


def test_the_management_port_is_the_one_the_compute_api_marked():
    backend = NetnsBackend(FakeRunner(), Path("/x"))
    assert backend.is_mgmt({"net_id": "n", "network_name": "x", "management": True})
    assert not backend.is_mgmt({"net_id": "n", "network_name": "astara-mgmt"})
    assert not backend.is_mgmt({"net_id": "astara-mgmt", "management": False})


def test_stored_ports_carry_the_prefix_length_of_their_subnet():
    net = FakeNetwork()
    network = net.add_network("p", "blue", "10.9.0")
    port = ports.allocate_one(net, Context("p", roles=("member",)), "p", "server", "host",
                              "nova", NetworkRequest(net_id=network["id"]))
    assert port["fixed_ips"][0]["prefixlen"] == 24
    assert port["network_name"] == "blue"


def test_tenant_sysctls_enable_slaac_on_each_interface():
    values = profiles.sysctls("tenant", ["eth0", "eth1"])
    assert values["net.ipv6.conf.eth1.accept_ra"] == "1"
    assert values["net.ipv6.conf.default.autoconf"] == "1"
    assert values["net.ipv6.conf.eth0.use_tempaddr"] == "0"  # only the EUI-64 fixed IP
    assert values["net.ipv6.conf.eth1.addr_gen_mode"] == "0"
    assert not any("arp" in key for key in values)


def test_appliance_sysctls_answer_arp_only_for_the_receiving_interface():
    values = profiles.sysctls("appliance", ["eth0", "eth1"])
    for scope in ("all", "default", "eth0", "eth1"):
        assert values[f"net.ipv4.conf.{scope}.arp_ignore"] == "1"
        assert values[f"net.ipv4.conf.{scope}.arp_announce"] == "2"
        assert values[f"net.ipv4.conf.{scope}.proxy_arp"] == "0"
    assert not any("accept_ra" in key for key in values)  # an appliance sends RAs


def test_an_appliances_ports_without_an_ipv6_fixed_ip_start_without_ipv6():
    v4 = {"fixed_ips": [{"ip_address": "203.0.113.5"}]}
    v6 = {"fixed_ips": [{"ip_address": "192.0.2.1"}, {"ip_address": "fd00::1"}]}
    mgmt = {"fixed_ips": [{"ip_address": "10.0.0.9"}], "management": True}
    plugs = [(mgmt, "eth0"), (v4, "eth1"), (v6, "eth2"), ({"fixed_ips": []}, "eth3")]
    # the management port keeps IPv6 whatever its addresses (the agent's own network)
    assert profiles.without_ipv6("appliance", plugs) == ["eth1", "eth3"]
    assert profiles.without_ipv6("tenant", plugs) == []  # a tenant's guest decides
    values = profiles.sysctls("appliance", ["eth0", "eth1", "eth2", "eth3"], ["eth1", "eth3"])
    # and no router solicitation from the others (nor from any interface made later)
    assert {k: v for k, v in values.items() if "ipv6" in k} == {
        "net.ipv6.conf.eth1.disable_ipv6": "1", "net.ipv6.conf.eth3.disable_ipv6": "1",
        "net.ipv6.conf.default.router_solicitations": "0",
        "net.ipv6.conf.eth0.router_solicitations": "0",
        "net.ipv6.conf.eth2.router_solicitations": "0"}
    assert not any("disable_ipv6" in k for k in profiles.sysctls("appliance", ["eth0"]))


def test_ipv6_off_may_be_any_iterable():
    values = profiles.sysctls("appliance", ["eth0", "eth1"], (n for n in ["eth1"]))
    assert values["net.ipv6.conf.eth1.disable_ipv6"] == "1"
    assert "net.ipv6.conf.eth1.router_solicitations" not in values


def test_an_ipv6_sysctl_the_kernel_lacks_is_skipped_any_other_is_an_error():
    """A host booted without IPv6, or a device with an MTU below 1280, has no IPv6
    settings: a plug must not fail on them."""
    from astara.compute_service.agent.runner import _write_sysctls

    _write_sysctls({"net.ipv6.conf.astara-none0.router_solicitations": "0"})
    with pytest.raises(FileNotFoundError):
        _write_sysctls({"net.ipv4.conf.astara-none0.arp_ignore": "1"})


def test_a_plug_turns_ipv6_off_only_on_the_veths_it_makes(tmp_path, monkeypatch):
    """A create tried again over a namespace whose veths exist (a restarted agent)
    must not take back the IPv6 the appliance agent turned on since."""
    import astara.compute_service.agent.netns as netns_mod

    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    runner = FakeRunner()
    backend = NetnsBackend(runner, tmp_path / "state", mgmt_host_address="",
                           responders=object())  # type: ignore
    plugged = [{"port_id": f"p{i}", "net_id": f"n{i}", "mac_address": f"fa:16:3e:00:00:0{i}",
              "fixed_ips": [{"ip_address": ip}], "port_security_enabled": False,
              "management": i == 0}
             for i, ip in enumerate(["fdca::5", "203.0.113.5", "fd00::1"])]
    plugs = [(p, f"eth{i}") for i, p in enumerate(plugged)]

    def ipv6_written() -> list[str]:
        return [kv for c in runner.commands if c[:2] == ["sysctl", "astara-appliance-i"]
                for kv in c[2:] if "ipv6" in kv]

    backend._plug_all("astara-appliance-i", plugs, True, "appliance")
    assert [kv for kv in ipv6_written() if "disable" in kv] == [
        "net.ipv6.conf.eth1.disable_ipv6=1"]
    runner.commands.clear()
    for port in plugged:  # the veths are there now
        (tmp_path / "net" / backend.tap(port["port_id"])).mkdir(parents=True)
    backend._plug_all("astara-appliance-i", plugs, False, "appliance")
    assert any(c[:2] == ["sysctl", "astara-appliance-i"] for c in runner.commands)
    assert [kv for kv in ipv6_written() if "disable" in kv] == []


def test_responder_runs_by_path_without_site_packages():
    from astara.compute_service.agent import responder

    argv = responder.command("/py", "vm-1")
    assert argv[:3] == ["/py", "-I", "-S"] and argv[3].endswith("responder.py")
    assert responder._args(argv[4:]) == ("vm-1", 80)
    answer = responder.response("vm-1")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nvm-1\n")
    with pytest.raises(SystemExit):
        responder._args(["--port", "81"])


def test_fake_runner_records_a_batch_as_its_commands_run_one_by_one():
    lines = ["link set lo up", "link set eth0 up"]
    batched, one_by_one = FakeRunner(), FakeRunner()
    batched.batch(lines, netns="ns")
    for line in lines:
        one_by_one.run(["ip", "-n", "ns", *line.split()])
    assert batched.commands == one_by_one.commands
    batched.batch([], netns="ns")  # like `ip -batch`: nothing to run, nothing run
    assert len(batched.commands) == len(lines)


def _run_script(tmp_path: Path, **env: str) -> list[str]:
    """The tenant's dhclient script under /bin/sh with ``env``, an ``ip`` on PATH that
    records its arguments and what it read: one line per ``ip`` run, then its stdin."""
    script = tmp_path / "dhclient-script"
    script.write_text(profiles.DHCLIENT_SCRIPT)
    script.chmod(0o755)
    bin_dir, log = tmp_path / "bin", tmp_path / "ip.log"
    bin_dir.mkdir()
    (bin_dir / "ip").write_text(f'#!/bin/sh\necho "ip $*" >> {log}\n'
                                f'if [ "$2" = "-batch" ]; then cat >> {log}; fi\n')
    (bin_dir / "ip").chmod(0o755)
    done = subprocess.run([str(script)], env={"PATH": f"{bin_dir}:/usr/bin:/bin",
                                              "interface": "eth0", **env})
    lines = log.read_text().splitlines() if log.exists() else []
    return [f"exit {done.returncode}", *lines]


def test_a_lease_sets_the_address_and_route_in_one_ip_run(tmp_path):
    assert _run_script(tmp_path, reason="BOUND", new_ip_address="10.0.0.5",
                       new_subnet_mask="255.255.255.0",
                       new_routers="10.0.0.1 10.0.0.2") == [
        "exit 0", "ip -4 -batch -", "addr replace 10.0.0.5/255.255.255.0 dev eth0",
        "route replace default via 10.0.0.1 dev eth0"]


def test_a_renewal_to_another_address_flushes_the_old_one_first(tmp_path):
    assert _run_script(tmp_path, reason="RENEW", old_ip_address="10.0.0.4",
                       new_ip_address="10.0.0.5", new_subnet_mask="255.255.255.0",
                       new_routers="") == [
        "exit 0", "ip -4 addr flush dev eth0", "ip -4 -batch -",
        "addr replace 10.0.0.5/255.255.255.0 dev eth0"]


@pytest.mark.parametrize("field", ["new_ip_address", "new_subnet_mask", "new_routers"])
def test_a_lease_value_that_is_no_address_writes_nothing(tmp_path, field):
    env = {"reason": "BOUND", "new_ip_address": "10.0.0.5",
           "new_subnet_mask": "255.255.255.0", "new_routers": "10.0.0.1",
           field: "10.0.0.9\nlink del eth0"}
    assert _run_script(tmp_path, **env) == ["exit 1"]


def test_a_renewal_with_a_value_that_is_no_address_keeps_the_old_one(tmp_path):
    assert _run_script(tmp_path, reason="RENEW", old_ip_address="10.0.0.4",
                       new_ip_address="10.0.0.5;reboot", new_subnet_mask="255.255.255.0",
                       new_routers="10.0.0.1") == ["exit 1"]
