"""Anti-spoofing chains of instance ports: which ports, what they allow, how applied."""

from __future__ import annotations

import ipaddress
import json

import pytest

from astara.compute_service.agent import antispoof
from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.api import ports

MAC = "fa:16:3e:00:00:01"
PORT = {"port_id": "0a1b2c3d-0000-4000-8000-000000000001", "net_id": "n1",
        "mac_address": MAC.upper(),
        "fixed_ips": [{"subnet_id": "s4", "ip_address": "10.0.0.5"},
                      {"subnet_id": "s6", "ip_address": "fd00::5"}]}


def test_link_local_is_the_eui64_of_the_mac():
    assert str(antispoof.link_local(MAC)) == "fe80::f816:3eff:fe00:1"


@pytest.mark.parametrize("port, profile, expected", [
    ({"port_security_enabled": True}, "appliance", True),
    ({"port_security_enabled": False}, "tenant", False),
    ({}, "tenant", True),  # stored before the flag was kept
    ({}, "appliance", False),
])
def test_wanted(port, profile, expected):
    assert antispoof.wanted(port, profile) is expected


def test_allowed_pairs_join_their_mac_and_bad_addresses_allow_nothing():
    port = {**PORT, "allowed_address_pairs": [
        {"ip_address": "10.1.0.0/24"},
        {"ip_address": "10.2.0.9", "mac_address": "FA:16:3E:00:00:99"},
        {"ip_address": "not-an-ip"}]}
    got = antispoof.allowed(port)
    assert got == {
        MAC: [ipaddress.ip_network(n) for n in
              ("10.0.0.5/32", "fd00::5/128", "10.1.0.0/24", "fe80::f816:3eff:fe00:1/128")],
        "fa:16:3e:00:00:99": [ipaddress.ip_network(n) for n in
                              ("10.2.0.9/32", "fe80::f816:3eff:fe00:99/128")]}


def test_rules_of_a_port():
    port = {**PORT, "allowed_address_pairs": [{"ip_address": "10.0.0.4/30"},
                                              {"ip_address": "fd01::/64"}]}
    rules = antispoof.rules(port)
    # whatever the source: no VLAN, no DHCP server, no router advertisement
    assert rules[:5] == ["ether type 8021q drop", "ether type 8021ad drop",
                         "udp dport 68 drop", "udp dport 546 drop",
                         "icmpv6 type nd-router-advert drop"]
    src = f"ether saddr {MAC}"
    # overlapping pair and fixed IP merged: one rule for both
    assert [r for r in rules if " ip saddr 10." in r] == [f"{src} ip saddr 10.0.0.4/30 accept"]
    assert [r.split(" arp saddr ip ")[1] for r in rules
            if r.startswith(f"{src} arp ") and f"arp saddr ether {MAC} " in r] == [
        "0.0.0.0 accept", "10.0.0.4/30 accept"]
    assert [r for r in rules if " ip6 saddr f" in r] == [
        f"{src} ip6 saddr {net} accept"
        for net in ("fd00::5/128", "fd01::/64", "fe80::f816:3eff:fe00:1/128")]
    # one rule: a target none of the port's addresses is dropped
    na = [r for r in rules if "nd-neighbor-advert" in r]
    assert na == [f"{src} icmpv6 type nd-neighbor-advert "
                  "@th,64,128 != 0xfd000000000000000000000000000005 "
                  "@th,64,128 != 0xfd010000000000000000000000000000-"
                  "0xfd01000000000000ffffffffffffffff "
                  "@th,64,128 != 0xfe80000000000000f8163efffe000001 drop"]
    assert all(MAC in r for r in rules[5:])
    # no anonymous set: a load would read every set of the host's chains first
    assert not any("{" in r for r in rules)


@pytest.mark.parametrize("port, profile, expected", [
    ({"management": True}, "appliance", True),
    ({"management": True}, "tenant", False),  # only an appliance's port is one
    ({"management": "yes"}, "appliance", False),  # our records' flag, nothing like it
    ({}, "appliance", False),
])
def test_quiet_is_an_appliances_management_port(port, profile, expected):
    assert antispoof.quiet(port, profile) is expected


def test_a_quiet_port_drops_its_listener_reports_before_anything_accepts_them():
    loud, quiet = antispoof.rules(PORT), antispoof.rules(PORT, quiet=True)
    listener = ["icmpv6 type mld-listener-report drop", "icmpv6 type mld-listener-done drop",
                "icmpv6 type mld2-listener-report drop"]
    # after the drops of every port, before the first rule that accepts
    assert quiet[5:8] == listener and not any(r in loud for r in listener)
    assert not any("accept" in r for r in quiet[:8])
    # the same accepts but the reports from ::, now dropped above
    src = f"ether saddr {MAC} ip6 saddr :: ip6 daddr ff02::/16 icmpv6 type "
    assert [r for r in loud if r not in quiet] == [
        src + kind + " accept" for kind in ("mld-listener-report", "mld-listener-done",
                                            "mld2-listener-report")]
    assert [r for r in quiet if r not in loud] == listener
    assert f"{src}nd-neighbor-solicit accept" in quiet  # DAD still passes
    assert antispoof.chain_script("tapx", PORT, True)[2:] == [
        f"add rule netdev astara_antispoof tapx {r}" for r in quiet]
    assert antispoof.replace_script("tapx", PORT, True)[3:] == [
        f"add rule netdev astara_antispoof tapx {r}" for r in quiet]


def test_many_ipv6_addresses_put_the_advertisement_targets_in_a_set():
    """Two expressions a target, 128 a rule (NFT_RULE_MAXEXPRS): inline only up to
    ``ND_TARGETS_INLINE``, and a set past it, so the rule still loads."""
    def na_rule(count: int) -> str:
        pairs = [{"ip_address": f"fd00:{2 * i:x}::1"} for i in range(count)]
        rules = antispoof.rules({"mac_address": MAC, "allowed_address_pairs": pairs})
        (rule,) = [r for r in rules if "nd-neighbor-advert" in r]
        return rule

    limit = antispoof.ND_TARGETS_INLINE
    assert 2 * limit + 16 < 128  # room for the rule's other expressions
    inline = na_rule(limit - 1)  # with the link-local address: at the limit
    assert inline.count("@th,64,128 != 0x") == limit and "{" not in inline
    many = na_rule(200)
    assert many.count("@th,64,128") == 1
    targets = many.split("@th,64,128 != { ")[1].removesuffix(" } drop").split(", ")
    assert len(targets) == 201
    assert targets[0] == "0xfd000000000000000000000000000001"
    assert targets[-1] == "0xfe80000000000000f8163efffe000001"


def test_a_port_without_addresses_may_still_probe_and_ask_dhcp():
    rules = antispoof.rules({"mac_address": MAC})
    assert not any(" ip saddr 10." in r for r in rules)
    assert [r for r in rules if " arp " in r] == [
        f"ether saddr {MAC} arp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
        f"arp saddr ether {MAC} arp saddr ip 0.0.0.0 accept"]
    assert any("ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67" in r
               for r in rules)


def test_chain_script_fills_the_chain_without_deleting_it_and_refuses_odd_names():
    lines = antispoof.chain_script("tap0a1b2c3d-00", PORT)
    chain = "netdev astara_antispoof tap0a1b2c3d-00"
    hook = ('{ type filter hook ingress device "tap0a1b2c3d-00" priority -300; '
            'policy drop; }')
    # created, or emptied and refilled, in one transaction: never deleted
    assert lines[:2] == [f"add chain {chain} {hook}", f"flush chain {chain}"]
    assert not any(line.startswith("delete") for line in lines)
    assert lines[2:] == [f"add rule {chain} {r}" for r in antispoof.rules(PORT)]
    # the whole replacement (its hook too), for a chain the kernel refuses to refill
    assert antispoof.replace_script("tap0a1b2c3d-00", PORT)[:3] == [
        f"add chain {chain}", f"delete chain {chain}", f"add chain {chain} {hook}"]
    assert antispoof.script(lines).startswith("table netdev astara_antispoof {}\n")
    for build in (antispoof.chain_script, antispoof.replace_script):
        with pytest.raises(ValueError):
            build('tap"; flush ruleset', PORT)


def test_chains_of_a_listing():
    listing = {"nftables": [{"metainfo": {}}, {"table": {"name": "astara_antispoof"}},
                            {"chain": {"table": "astara_antispoof", "name": "tapa"}},
                            {"chain": {"table": "other", "name": "tapb"}}]}
    assert antispoof.chains(listing) == {"tapa"}


def test_stored_port_keeps_port_security_and_pairs():
    port = {"id": "p", "network_id": "n", "mac_address": MAC, "fixed_ips": [],
            "port_security_enabled": False,
            "allowed_address_pairs": [{"ip_address": "10.0.0.9"},
                                      {"ip_address": "10.0.0.8", "mac_address": "fa:16:3e:0:0:2"}]}
    got = ports.stored(port, "net", owned=True)
    assert got["port_security_enabled"] is False
    assert got["allowed_address_pairs"] == [
        {"ip_address": "10.0.0.9", "mac_address": MAC},
        {"ip_address": "10.0.0.8", "mac_address": "fa:16:3e:0:0:2"}]
    assert ports.stored({"id": "p", "network_id": "n"}, "", True)["port_security_enabled"]


def test_backend_filters_on_plug_unfilters_on_delete(tmp_path, monkeypatch):
    import astara.compute_service.agent.netns as netns_mod
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    runner = FakeRunner()
    backend = NetnsBackend(runner, tmp_path / "state", responders=object())  # type: ignore
    asked = []
    # the unfiltered port's tap still has a chain (port security turned off since)
    monkeypatch.setattr(NetnsBackend, "_chains_present",
                        staticmethod(lambda taps: asked.append(taps) or set(taps)))
    free = {**PORT, "port_id": "1a1b2c3d-0000-4000-8000-000000000002",
            "port_security_enabled": False}
    spec = InstanceSpec("i", "vm", "appliance", ({**PORT, "port_security_enabled": True},
                                                 free))
    backend._plug_all("astara-appliance-i", [(p, f"eth{n}") for n, p in
                                             enumerate(spec.ports)], True, "appliance")
    nft = [c for c in runner.commands if c[0] == "nft"]
    assert nft == [["nft", "-f", "-"]]
    text = runner.stdin[0]
    assert 'add chain netdev astara_antispoof tap0a1b2c3d-00 { type filter hook ingress ' \
           'device "tap0a1b2c3d-00"' in text
    # the unfiltered port gets any old chain removed, in the same transaction
    assert "delete chain netdev astara_antispoof tap1a1b2c3d-00\n" in text
    assert asked == [["tap1a1b2c3d-00"]]  # only the unfiltered port's tap is asked about
    assert text.count("add rule") == len(antispoof.rules(PORT))
    assert "mld2-listener-report drop" not in text  # not the management port
    # nft loads before the instance's side of the veth goes up
    up = next(i for i, c in enumerate(runner.commands) if c[:3] == ["ip", "-n",
                                                                     "astara-appliance-i"]
              and "up" in c)
    assert runner.commands.index(["nft", "-f", "-"]) < up
    runner.stdin.clear()
    backend.delete(spec)
    assert runner.stdin == [antispoof.script(antispoof.delete_script(
        ["tap0a1b2c3d-00", "tap1a1b2c3d-00"]))]


@pytest.mark.parametrize("profile, quiet", [("appliance", True), ("tenant", False)])
def test_backend_loads_an_appliances_management_port_quiet(tmp_path, monkeypatch, profile,
                                                           quiet):
    import astara.compute_service.agent.netns as netns_mod
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    runner = FakeRunner()
    backend = NetnsBackend(runner, tmp_path / "state", mgmt_host_address="",
                           responders=object())  # type: ignore
    port = {**PORT, "port_security_enabled": True, "management": True}
    backend._plug_all(backend.netns("i", profile), [(port, "eth0")], True, profile)
    assert runner.stdin == [antispoof.script(antispoof.chain_script("tap0a1b2c3d-00", port,
                                                                    quiet))]


def test_backend_observe_reports_filtered_macs(tmp_path, monkeypatch):
    import astara.compute_service.agent.netns as netns_mod
    (tmp_path / "netns" / "astara-vm-i").mkdir(parents=True)
    for name, index in (("tapa", 7), ("tapb", 8)):
        (tmp_path / "net" / name).mkdir(parents=True)
        (tmp_path / "net" / name / "ifindex").write_text(f"{index}\n")
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    listing = {"nftables": [{"chain": {"table": "astara_antispoof", "name": "tapa"}}]}
    links = [{"ifname": "eth0", "address": "fa:16:3e:00:00:01", "link_index": 7},
             {"ifname": "eth1", "address": "fa:16:3e:00:00:02", "link_index": 8}]

    class Runner(FakeRunner):
        def run(self, argv, check=True, stdin=None):
            super().run(argv, check, stdin)
            return json.dumps(listing if argv[0] == "nft" else [])

        def links(self, netns):
            super().links(netns)
            return links, []

    backend = NetnsBackend(Runner(), tmp_path / "state", responders=object())  # type: ignore
    monkeypatch.setattr("astara.compute_service.agent.profiles.running", lambda *a: False)
    seen = backend.observe()["i"]
    assert seen.ports == ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
    assert seen.filtered == ("fa:16:3e:00:00:01",)


def test_netns_cleanup_removes_only_chains_whose_device_is_gone():
    from astara.cli.netns_cleanup import stale_chains

    assert stale_chains({"tapa", "tapb", "tapc"}, {"lo", "tapb"}) == ["tapa", "tapc"]


def _plug_two(tmp_path, monkeypatch, runner, present):
    import astara.compute_service.agent.netns as netns_mod
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    monkeypatch.setattr(netns_mod.netlink, "chains_present", present)
    backend = NetnsBackend(runner, tmp_path / "state", responders=object())  # type: ignore
    free = {**PORT, "port_id": "1a1b2c3d-0000-4000-8000-000000000002",
            "port_security_enabled": False}
    backend._filter([{**PORT, "port_security_enabled": True}, free], "appliance")


def test_a_fresh_plug_deletes_no_chain(tmp_path, monkeypatch):
    runner = FakeRunner()
    _plug_two(tmp_path, monkeypatch, runner, lambda family, table, names: set())
    assert runner.stdin == [antispoof.script(antispoof.chain_script("tap0a1b2c3d-00", PORT))]
    assert "delete chain" not in runner.stdin[0]


def test_chains_are_deleted_when_the_kernel_cannot_say_which_are_there(tmp_path, monkeypatch):
    def unreadable(family, table, names):
        raise PermissionError(1, "Operation not permitted")

    runner = FakeRunner()
    _plug_two(tmp_path, monkeypatch, runner, unreadable)
    assert "delete chain netdev astara_antispoof tap1a1b2c3d-00\n" in runner.stdin[0]


def test_a_chain_refused_a_refill_is_replaced_whole(tmp_path, monkeypatch):
    from astara.compute_service.agent.runner import CommandError

    class Refusing(FakeRunner):
        def run(self, argv, check=True, stdin=None):
            out = super().run(argv, check, stdin)
            if len(self.stdin) == 1:  # the kernel: that chain has another hook
                raise CommandError(argv, 1, "Error: Operation not supported")
            return out

    runner = Refusing()
    _plug_two(tmp_path, monkeypatch, runner, lambda family, table, names: set())
    assert runner.stdin[1] == antispoof.script(
        antispoof.replace_script("tap0a1b2c3d-00", PORT))


def test_chain_request_names_the_table_and_chain():
    from astara.common.netlink_dump import attributes
    from astara.compute_service.agent import netlink

    body = netlink.chain_request(netlink.NFPROTO_NETDEV, "astara_antispoof", "tapa")
    assert body[:4] == bytes([5, 0, 0, 0])  # netdev, version 0
    assert attributes(body, 4) == {1: b"astara_antispoof\0", 3: b"tapa\0"}
