"""The VXLAN decisions as tables: VNI choice, peers per network, flood entry diff."""

from __future__ import annotations

import pytest

from astara.compute_service.agent import vxlan
from astara.compute_service.agent.vxlan import FLOOD, HostRow

NET_A = "6f0d2c1e-1111-4000-8000-00000000000a"
NET_B = "6f0d2c1e-1111-4000-8000-00000000000b"


def test_vni_start_is_stable_and_in_range():
    assert vxlan.vni_start(NET_A) == vxlan.vni_start(NET_A)
    for i in range(200):
        assert vxlan.VNI_MIN <= vxlan.vni_start(f"net-{i}") <= vxlan.VNI_MAX


def test_pick_vni_takes_the_start_when_free_and_probes_past_taken_ones():
    start = vxlan.vni_start(NET_A)
    assert vxlan.pick_vni(NET_A, set()) == start
    assert vxlan.pick_vni(NET_A, {start}) == start + 1 if start < vxlan.VNI_MAX \
        else vxlan.VNI_MIN


def test_pick_vni_wraps_past_the_top_of_its_range():
    assert vxlan.vni_start(NET_A, 10, 19) == 15  # sha256 of the id, fixed
    assert vxlan.pick_vni(NET_A, {15, 16, 17, 18, 19}, 10, 19) == 10
    assert vxlan.pick_vni(NET_A, {10, 15, 16, 17, 18, 19}, 10, 19) == 11


def test_two_networks_hashing_to_one_vni_never_share_it():
    first = vxlan.pick_vni(NET_A, set())
    second = vxlan.pick_vni(NET_A, {first})
    assert second != first


def test_every_vni_taken_is_an_error():
    with pytest.raises(vxlan.VniExhausted):
        vxlan.pick_vni(NET_A, range(10, 20), 10, 19)


@pytest.mark.parametrize(("bridge_prefix", "vni", "want"), [
    ("brq", 1, "vxbrq000001"),
    ("brq", vxlan.VNI_MAX, "vxbrqffffff"),
    ("vb35fd", 0x3d9d7d, "vxvb35fd3d9d7d"),
])
def test_device_name_is_the_vni_and_fits_an_interface_name(bridge_prefix, vni, want):
    got = vxlan.device_name(bridge_prefix, vni)
    assert got == want and len(got) <= 15 and got.startswith(vxlan.device_prefix(bridge_prefix))


@pytest.mark.parametrize(("underlay", "local", "want"), [
    (1500, "192.0.2.1", 1450),
    (9000, "192.0.2.1", 8950),
    (1500, "2001:db8::1", 1430),
])
def test_tunnel_mtu_leaves_room_for_the_encapsulation(underlay, local, want):
    assert vxlan.tunnel_mtu(underlay, local) == want


def test_device_lines_make_a_unicast_device_without_learning():
    assert vxlan.device_lines("vxbrqa", 42, "192.0.2.1", 1450, "brqa") == [
        "link add vxbrqa mtu 1450 type vxlan id 42 local 192.0.2.1 dstport 4789 nolearning",
        "link set vxbrqa master brqa up",
    ]
    assert vxlan.fdb_diff({"vxbrqa": {"192.0.2.3", "192.0.2.2"}}, {}) == [
        f"fdb append {FLOOD} dev vxbrqa dst 192.0.2.2",
        f"fdb append {FLOOD} dev vxbrqa dst 192.0.2.3",
    ]


HOSTS = [HostRow("me", "10.0.0.1", True), HostRow("b", "10.0.0.2", True),
         HostRow("c", "10.0.0.3", True), HostRow("dead", "10.0.0.4", False),
         HostRow("flat", None, True)]


@pytest.mark.parametrize(("ports", "want"), [
    ([], {}),
    ([("me", NET_A)], {}),  # only this host uses it: no peer
    ([("b", NET_A), ("c", NET_A), ("c", NET_B)],
     {NET_A: {"10.0.0.2", "10.0.0.3"}, NET_B: {"10.0.0.3"}}),
    ([("b", NET_A), ("b", NET_A)], {NET_A: {"10.0.0.2"}}),
    ([("dead", NET_A), ("flat", NET_A), ("unknown", NET_A)], {}),  # not peers
])
def test_peers_are_the_other_live_tunnelled_hosts_using_the_network(ports, want):
    got = vxlan.peers_by_network("me", HOSTS, ports)
    assert {k: set(v) for k, v in got.items()} == want


def test_flood_entries_reads_only_our_devices_flood_lines():
    fdb = [{"mac": FLOOD, "ifname": "vxa", "dst": "10.0.0.2", "flags": []},
           {"mac": "00:00:00:00:00:00", "ifname": "vxa", "dst": "10.0.0.3"},
           {"mac": "52:54:00:12:34:56", "ifname": "vxa", "dst": "10.0.0.9"},  # a MAC's
           {"mac": FLOOD, "ifname": "other", "dst": "10.0.0.5"},  # not ours
           {"mac": "33:33:00:00:00:01", "ifname": "vxa", "state": "permanent"}]
    assert vxlan.flood_entries(fdb, ["vxa", "vxb"]) == \
        {"vxa": {"10.0.0.2", "10.0.0.3"}, "vxb": set()}


@pytest.mark.parametrize(("desired", "present", "want"), [
    ({}, {"vxa": {"10.0.0.2"}}, []),  # a device we have no record of: left alone
    ({"vxa": {"10.0.0.2"}}, {"vxa": {"10.0.0.2"}}, []),
    ({"vxa": {"10.0.0.2", "10.0.0.3"}}, {"vxa": {"10.0.0.2"}},
     [f"fdb append {FLOOD} dev vxa dst 10.0.0.3"]),
    ({"vxa": set()}, {"vxa": {"10.0.0.2"}}, [f"fdb del {FLOOD} dev vxa dst 10.0.0.2"]),
    ({"vxa": {"10.0.0.4"}, "vxb": {"10.0.0.2"}}, {"vxa": {"10.0.0.2"}},
     [f"fdb append {FLOOD} dev vxa dst 10.0.0.4", f"fdb del {FLOOD} dev vxa dst 10.0.0.2",
      f"fdb append {FLOOD} dev vxb dst 10.0.0.2"]),
])
def test_fdb_diff_turns_present_into_desired(desired, present, want):
    assert vxlan.fdb_diff(desired, present) == want


def test_peers_of_the_other_ip_family_are_left_out():
    hosts = HOSTS + [HostRow("six", "2001:db8::6", True)]
    ports = [("b", NET_A), ("six", NET_A)]
    assert vxlan.peers_by_network("me", hosts, ports, 4) == {NET_A: {"10.0.0.2"}}
    assert vxlan.peers_by_network("me", hosts, ports, 6) == {NET_A: {"2001:db8::6"}}
    assert vxlan.other_family("me", hosts, 4) == {"six": "2001:db8::6"}


@pytest.mark.parametrize(("data", "master", "want"), [
    ({"id": 5, "local": "192.0.2.1"}, "brqa", ([], False)),
    ({"id": 5, "local6": "2001:db8::1"}, "brqa", None),  # another local
    ({"id": 5, "local": "192.0.2.1"}, None, (["link set vxbrqa master brqa up"], False)),
    ({"id": 6, "local": "192.0.2.1"}, "brqa", None),  # another VNI
])
def test_existing_lines_make_a_device_right(data, master, want):
    link = {"linkinfo": {"info_data": data}}
    made = (["link del vxbrqa"] + vxlan.device_lines("vxbrqa", 5, "192.0.2.1", 1450, "brqa"),
            True)
    assert vxlan.existing_lines(link, master, "vxbrqa", 5, "192.0.2.1", 1450, "brqa") == \
        (want or made)


def test_existing_lines_read_an_ipv6_local_as_ip_prints_it():
    link = {"linkinfo": {"info_data": {"id": 5, "local6": "2001:db8:0::1"}}}
    assert vxlan.existing_lines(link, "brqa", "vxbrqa", 5, "2001:db8::1", 1430, "brqa") == \
        ([], False)
