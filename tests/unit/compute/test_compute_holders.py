"""Several holders of the management network: the pure decisions of ``holders`` (who
is live, which holder the metadata address is pinned to, the pins inside an appliance
and on a holder's bridge, the claim's refusal) and the peers they make."""

from __future__ import annotations

import pytest

import astara.compute_service.agent.netns as netns_mod
from astara.common.entry import ConfigError
from astara.compute_service import settings
from astara.compute_service.agent import holders, neighbours, vxlan
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.overlay import HolderView
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.agent.vxlan import HostRow

P = "fdca:3ba5:a17a:acda::"
A, B = P + "1/64", P + "2/64"
META = P + "5"
MAC_A, MAC_B = neighbours.holder_mac(A), neighbours.holder_mac(B)
NET = "c0ffee00-0002-4000-8000-00000000000b"


def test_live_holders_are_listed_claimed_and_beating():
    rows = [("a", P + "1", True), ("b", P + "2", False), ("c", None, True),
            ("d", P + "4", True)]
    assert holders.live(("a", "b", "c"), rows) == {"a": P + "1"}
    assert holders.live((), rows) == {}


@pytest.mark.parametrize("host, live, want", [
    ("c", {"b": B, "a": A}, "a"),  # not a holder: the first live one by name
    ("b", {"b": B, "a": A}, "b"),  # a holder: itself, no tunnel on the way
    ("c", {"b": B}, "b"),  # a stopped beating: the pin moves
    ("c", {}, None),
])
def test_the_metadata_holder(host, live, want):
    assert holders.metadata_holder(host, live) == want


def test_an_appliance_pins_every_live_holder_and_the_metadata_address_to_one():
    live = {"a": A, "b": B}
    assert holders.inside_pairs("c", live, META) == {
        (MAC_A, P + "1"), (MAC_B, P + "2"), (MAC_A, META)}
    assert holders.inside_pairs("b", live, META) >= {(MAC_B, META)}
    assert holders.inside_pairs("c", live, "") == {(MAC_A, P + "1"), (MAC_B, P + "2")}
    assert holders.inside_pairs("c", {}, META) == set()


def entry(ip: str, mac: str, dev: str = "eth0") -> dict:
    return {"dst": ip, "dev": dev, "lladdr": mac, "state": ["PERMANENT"]}


def test_inside_lines_move_the_metadata_pin_and_drop_a_gone_holders_pin_only():
    present = [entry(P + "1", MAC_A), entry(P + "2", MAC_B), entry(META, MAC_A),
               entry(P + "99", "fa:16:3e:00:00:99"),  # not ours: left alone
               entry(P + "1", MAC_A, "eth1")]  # another interface: left alone
    wanted = holders.inside_pairs("c", {"b": B}, META)
    assert holders.inside_lines(present, wanted, "eth0", META) == [
        f"neigh replace {META} lladdr {MAC_B} dev eth0 nud permanent",
        f"neigh del {P}1 dev eth0"]
    assert holders.inside_lines(present[:3], holders.inside_pairs(
        "c", {"a": A, "b": B}, META), "eth0", META) == []
    # no metadata address any more: its pin goes too
    assert holders.inside_lines([entry(META, MAC_A)], frozenset(), "eth0", "") == []
    assert holders.inside_lines([entry(META, MAC_A)], frozenset(), "eth0", META) == [
        f"neigh del {META} dev eth0"]


APPLIANCE_C = {"port_id": "p1", "net_id": NET, "management": True,
               "mac_address": "FA:16:3E:00:00:10",
               "fixed_ips": [{"ip_address": P + "10"}]}
TENANTS_PORT = {**APPLIANCE_C, "management": False, "mac_address": "fa:16:3e:00:00:20",
                "fixed_ips": [{"ip_address": P + "20"}]}


def test_a_holder_pins_the_other_live_hosts_appliances_from_our_records():
    rows = [("c", [APPLIANCE_C, TENANTS_PORT]), ("a", [{**APPLIANCE_C, "mac_address":
                                                         "fa:16:3e:00:00:11"}]),
            ("dead", [{**APPLIANCE_C, "mac_address": "fa:16:3e:00:00:12"}]),
            ("c", None), ("c", ["junk"])]
    assert holders.remote_pairs("a", rows, ["a", "c"]) == {("fa:16:3e:00:00:10", P + "10")}


def test_bridge_lines_add_the_missing_and_drop_only_the_gone_ones_still_named():
    want = frozenset({("fa:16:3e:00:00:10", P + "10")})
    before = frozenset({("fa:16:3e:00:00:30", P + "30"), ("fa:16:3e:00:00:31", P + "31")})
    present = [entry(P + "30", "fa:16:3e:00:00:30", "br"),
               entry(P + "31", "fa:16:3e:00:00:99", "br")]  # given to a local port since
    assert holders.bridge_lines(present, want, before, "br") == [
        f"neigh replace {P}10 lladdr fa:16:3e:00:00:10 dev br nud permanent",
        f"neigh del {P}30 dev br"]


@pytest.mark.parametrize("address, pooled", [
    (P + "1/64", False), (P + "f/64", False), (P + "10/64", True),
    ("fdca:3ba5:a17a:acda:1::1/64", True),
    ("10.0.0.15/24", False), ("10.0.0.16/24", True)])
def test_an_address_in_the_appliances_pool_is_refused(address, pooled):
    assert holders.in_pool(address) is pooled


def test_the_refusal_line():
    assert holders.refusal(A, "a", None, False) is None
    assert holders.refusal(A, "a", "a", False) is None
    assert holders.refusal(A, "b", "a", False) == (
        f"management_host_address {A} is claimed by host 'a' (compute_hosts."
        f"management_address): this host holds no management address; give each holder "
        f"in management_address_host its own address, or clear 'a''s claim if that host "
        f"is gone for good")
    assert "allocation pool" in holders.refusal(P + "10/64", "b", None, True)


def test_every_live_holder_is_a_peer_of_the_management_network():
    hosts = [HostRow("a", "192.0.2.1", True), HostRow("b", "192.0.2.2", True),
             HostRow("c", "192.0.2.3", True), HostRow("d", "192.0.2.4", False)]
    assert vxlan.peers_by_network("c", hosts, [], 4, {NET: ("a", "b", "d")}) == {
        NET: frozenset({"192.0.2.1", "192.0.2.2"})}
    assert vxlan.peers_by_network("a", hosts, [("c", NET)], 4, {NET: ("b",)}) == {
        NET: frozenset({"192.0.2.2", "192.0.2.3"})}


def test_the_metadata_address_is_an_address_and_needs_holders():
    assert settings.management_metadata_address(" fdca::5 ", ("a",)) == "fdca::5"
    assert settings.management_metadata_address("", ()) == ""
    with pytest.raises(ConfigError, match="not an IPv4 or IPv6 address"):
        settings.management_metadata_address("fdca::5/64", ("a",))
    with pytest.raises(ConfigError, match="needs management_address_host"):
        settings.management_metadata_address("fdca::5", ())


# the backend's lines ----------------------------------------------------------------
class Holders:
    """An overlay whose records name holders a and b, live as ``live`` says."""

    local = "192.0.2.3"

    def __init__(self, live: dict[str, str]):
        self.live = live

    def vni(self, net_id: str) -> int:
        return 4242

    def mtu(self) -> int:
        return 1450

    def peers(self, net_id: str) -> frozenset[str]:
        return frozenset({"192.0.2.1", "192.0.2.2"})

    def management_networks(self) -> frozenset[str]:
        return frozenset({NET})

    def holder_view(self) -> HolderView:
        return HolderView(dict(self.live), frozenset({("fa:16:3e:00:00:77", P + "77")}),
                          frozenset({NET}))

    def sync(self) -> list[str]:
        return []


def backend(tmp_path, monkeypatch, host: str, own: str, overlay: Holders):
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    runner = FakeRunner()
    return NetnsBackend(runner, tmp_path / "state", mgmt_host_address=own,
                        responders=object(),  # type: ignore[arg-type]
                        overlay=overlay,  # type: ignore[arg-type]
                        mgmt_address_host=("a", "b"), host=host,
                        mgmt_metadata_address=META), runner


def test_an_appliance_on_another_host_is_plugged_with_every_holders_pin(tmp_path,
                                                                       monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "c", P + "3/64",
                        Holders({"a": A, "b": B}))
    b._plug_all("ns-i", [({**APPLIANCE_C, "mac_address": "fa:16:3e:00:00:10"}, "eth0")],
                True, "appliance")
    inside = sorted(" ".join(c) for c in runner.commands if c[:3] == ["ip", "-n", "ns-i"]
                    and "neigh" in c)
    assert inside == sorted(f"ip -n ns-i neigh replace {ip} lladdr {mac} dev eth0 nud "
                            f"permanent" for mac, ip in ((MAC_A, P + "1"), (MAC_B, P + "2"),
                                                         (MAC_A, META)))
    assert not [c for c in runner.commands if "addr" in c and "replace" in c]  # no holder


def test_a_holder_holds_its_own_address_and_the_metadata_one_never_a_source(tmp_path,
                                                                            monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "b", B, Holders({"a": A, "b": B}))
    b._plug_all("ns-i", [({**APPLIANCE_C, "mac_address": "fa:16:3e:00:00:10"}, "eth0")],
                True, "appliance")
    out = [" ".join(c) for c in runner.commands]
    br = b.bridge(NET)
    assert f"ip link add {br} address {MAC_B} type bridge mcast_snooping 0" in out
    assert f"ip addr replace {B} dev {br} nodad" in out
    assert f"ip addr replace {META}/128 dev {br} nodad preferred_lft 0" in out
    assert f"ip -n ns-i neigh replace {META} lladdr {MAC_B} dev eth0 nud permanent" in out
    # its sync pins the other hosts' appliances on its bridge
    (tmp_path / "net" / br).mkdir(parents=True)
    assert b.sync_pins() == [
        f"neigh replace {P}77 lladdr fa:16:3e:00:00:77 dev {br} nud permanent"]


def test_a_refused_holder_holds_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(netns_mod, "SYS_NET", tmp_path / "net")
    b = NetnsBackend(FakeRunner(), tmp_path / "state", mgmt_host_address=B,
                     overlay=Holders({"a": A}),  # type: ignore[arg-type]
                     responders=object(),  # type: ignore[arg-type]
                     mgmt_address_host=("a", "b"), host="b", holding=False)
    assert not b.holds_mgmt_address and b.sync_pins() == []


@pytest.mark.parametrize("meta, why", [
    (P + "1", "is this host's management_host_address"),
    ("192.0.2.9", "is not of the family of management_host_address"),
    (P + "20", "lies in the management subnet's allocation pool"),
])
def test_a_metadata_address_a_holder_could_also_hold_is_refused_in_one_line(meta, why):
    with pytest.raises(ConfigError, match=why) as err:
        settings.management_metadata_address(meta, ("a", "b"), A)
    assert "\n" not in str(err.value)
    # another holder's address below the pool, or one off the prefix, is fine here
    # (the claim refuses one another host claimed)
    assert settings.management_metadata_address(META, ("a", "b"), A) == META


def test_a_metadata_address_equal_to_a_holders_is_pinned_once():
    pairs = holders.inside_pairs("c", {"a": A, "b": B}, P + "2")
    assert sorted(pairs) == sorted({(MAC_A, P + "1"), (MAC_B, P + "2")})


def test_a_pin_of_a_former_metadata_address_is_deleted():
    present = [{"dst": P + "5", "lladdr": MAC_A, "dev": "eth0", "state": ["PERMANENT"]},
               {"dst": P + "1", "lladdr": MAC_A, "dev": "eth0", "state": ["PERMANENT"]},
               {"dst": P + "99", "lladdr": "fa:16:3e:00:00:99", "dev": "eth0",
                "state": ["PERMANENT"]}]  # not ours: kept
    wanted = holders.inside_pairs("c", {"a": A}, P + "6")
    assert holders.inside_lines(present, wanted, "eth0", P + "6") == [
        f"neigh replace {P}6 lladdr {MAC_A} dev eth0 nud permanent",
        f"neigh del {P}5 dev eth0"]


def test_a_holder_that_lost_its_claim_drops_its_address_and_mac(tmp_path, monkeypatch):
    b, runner = backend(tmp_path, monkeypatch, "b", B, Holders({"a": A, "b": B}))
    br = b.bridge(NET)
    for name, mac in ((br, MAC_B), (b.bridge("other"), "fa:16:3e:00:00:01")):
        (tmp_path / "net" / name).mkdir(parents=True)
        (tmp_path / "net" / name / "address").write_text(mac + "\n")
    runner.commands.clear()
    lines = b.stop_holding()
    assert lines[0].startswith(f"link set {br} address ")
    new_mac = lines[0].split()[-1]
    assert new_mac != MAC_B
    assert lines[1:] == [f"addr del {B} dev {br}", f"addr del {META}/128 dev {br}"]
    assert not b.holds_mgmt_address
    assert b.stop_holding() == [] and b.ensure_management() == []  # holds no more
