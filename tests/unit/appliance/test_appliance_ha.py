"""HA routers on the appliance: the wire section, keepalived's and conntrackd's
files, the nftables heartbeat rules, the plan leaving the virtual addresses alone,
and converge starting, reloading, refusing and stopping the daemons (in-tree fakes)."""

from pathlib import Path

import pytest
from _appliance_support import LINKS, NAMES

from astara.appliance import status as status_mod
from astara.appliance.apply import ha as apply_ha
from astara.appliance.apply.fakes import (
    FakeDnsmasq,
    FakeHaDaemons,
    FakeHaproxy,
    FakeNetlink,
    FakeNft,
)
from astara.appliance.converge import Appliance, Ports
from astara.appliance.observe import ha as observe_ha
from astara.appliance.observe.state import Address, NetState, Route
from astara.appliance.plan.netlink import diff
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress, DelRoute
from astara.appliance.render import conntrackd as render_conntrackd
from astara.appliance.render import keepalived as render_keepalived
from astara.appliance.render import nft as render_nft
from astara.wire import DocumentError, parse_config
from astara.wire.examples import router_document

HA = {"enabled": True, "peers": ["fdca::3"], "priority": 110, "virtual_router_id": 42}


def ha_config(**ha):
    return parse_config(router_document(ha={**HA, **ha}))


def plain_config():
    return parse_config(router_document())


# --- the wire section ---------------------------------------------------------------

def test_old_documents_stay_valid_and_default_to_no_ha():
    old = router_document(ha={"enabled": False, "peers": [], "priority": 100})
    assert parse_config(old).ha.enabled is False
    assert parse_config(router_document()).ha.virtual_router_id == 1


@pytest.mark.parametrize(("ha", "overrides", "message"), [
    ({"peers": []}, {}, "needs the peer's address"),
    ({"peers": ["fdca::3", "10.0.0.3"]}, {}, "one address family"),
    ({"peers": ["10.0.0.3"]}, {}, "needs an IPv4 management address"),
    ({"peers": ["fdca::2"]}, {}, "own address"),
    ({"virtual_router_id": 256}, {}, "less than or equal to 255"),
    ({"advert_interval_cs": 0}, {}, "greater than or equal to 1"),
    ({"auth_pass": "x"}, {}, "Extra inputs are not permitted"),
])
def test_bad_ha_sections_are_refused(ha, overrides, message):
    with pytest.raises(DocumentError) as err:
        parse_config(router_document(ha={**HA, **ha}, **overrides))
    assert message in str(err.value.errors)


# --- keepalived, conntrackd, nftables ---------------------------------------------

def test_keepalived_holds_the_data_addresses_and_routes_unicast_to_the_peer(tmp_path):
    text = render_keepalived.render(
        ha_config(advert_interval_cs=15), NAMES, tmp_path)
    for line in ["vrrp_version 3", "state BACKUP", "interface ge0", "virtual_router_id 42",
                 "priority 110", "advert_int 0.15", "nopreempt", "unicast_src_ip fdca::2",
                 "check_unicast_src", "unicast_peer {\n    fdca::3\n  }",
                 "enable_script_security",
                 "virtual_ipaddress {\n    fe80::a57a:2a/128 dev lo\n  }",
                 "track_interface {\n    ge1\n    ge2\n    ge3\n  }",
                 "virtual_ipaddress_excluded {\n    203.0.113.2/24 dev ge1\n"
                 "    192.0.2.1/24 dev ge2\n    fd00:1::1/64 dev ge2\n"
                 "    198.51.100.1/24 dev ge3\n  }",
                 "0.0.0.0/0 via 203.0.113.1 dev ge1 protocol keepalived",
                 f'notify "{tmp_path}/keepalived-notify.sh"']:
        assert line in text
    assert "fdca::2/64" not in text  # the management address stays static
    assert "auth" not in text  # VRRPv3 has no authentication


def test_keepalived_extra_routes_go_through_the_interface_reaching_their_next_hop(tmp_path):
    config = ha_config(nopreempt=False)
    doc = router_document(ha=HA, routes=[{"destination": "10.0.0.0/8",
                                          "nexthop": "198.51.100.254"}],
                          default_v6_gateway="fd00:1::fe")
    text = render_keepalived.render(parse_config(doc), NAMES, tmp_path)
    assert "10.0.0.0/8 via 198.51.100.254 dev ge3 protocol keepalived" in text
    assert "::/0 via fd00:1::fe dev ge2 protocol keepalived" in text
    assert "nopreempt" not in render_keepalived.render(config, NAMES, tmp_path)


FIP = {"floating_ip": "203.0.113.9", "fixed_ip": "192.0.2.9"}


def fip_config(*fips, **ha):
    return parse_config(router_document(ha={**HA, **ha}, floating_ips=list(fips)))


def test_floating_ips_are_keepalived_addresses_and_nftables_answers_no_arp(tmp_path):
    config = fip_config(FIP)
    text = render_keepalived.render(config, NAMES, tmp_path)
    assert "    203.0.113.9/32 dev ge1\n" in text
    ruleset = render_nft.render(config, NAMES, 5000)
    assert "arp operation" not in ruleset.base and "set fip_arp" in ruleset.base
    assert "203.0.113.9 : 192.0.2.9" in ruleset.full()  # 1:1 NAT as without HA
    assert "arp operation" in render_nft.render(
        parse_config(router_document(floating_ips=[FIP])), NAMES, 5000).base
    assert "203.0.113.9" not in render_conntrackd.render(config, NAMES, tmp_path)


def test_the_advert_marker_follows_the_peers_family():
    doc = router_document(ha={**HA, "peers": ["10.0.0.3"]})
    doc["networks"][0]["interface"]["addresses"] = ["10.0.0.2/24"]
    assert render_keepalived.marker(parse_config(doc)) == "169.254.192.42/32"
    assert render_keepalived.marker(ha_config(virtual_router_id=255)) == "fe80::a57a:ff/128"


def test_notify_script_records_the_role_and_hands_the_connection_table_over(tmp_path):
    sync = render_conntrackd.paths(tmp_path)["conf"]
    script = render_keepalived.notify_script(tmp_path, sync)
    assert f"mv -f {tmp_path}/ha.state.tmp {tmp_path}/ha.state" in script
    c = f"conntrackd -C {sync}"
    assert f"master) {c} -c; {c} -f; {c} -R; {c} -B ;;" in script
    assert f"backup) {c} -t; {c} -n ;;" in script
    assert "conntrackd" not in render_keepalived.notify_script(tmp_path, None)


def test_conntrackd_syncs_ftfw_unicast_over_the_management_interface(tmp_path):
    text = render_conntrackd.render(ha_config(), NAMES, tmp_path)
    for line in ["Mode FTFW {", "IPv6_address fdca::2", "IPv6_Destination_Address fdca::3",
                 "Port 3780", "Interface ge0", f"LockFile {tmp_path}/conntrackd.lock",
                 f"Path {render_conntrackd.paths(tmp_path)['sock']}",
                 "IPv4_address 203.0.113.2", "IPv4_address 192.0.2.1",
                 "IPv6_address fd00:1::1"]:
        assert line in text


def test_conntrackds_control_socket_path_is_short_whatever_the_state_path():
    # a UNIX socket path holds at most 107 bytes; the longest ids under a long state path
    longest = Path("/" + "s" * 200) / "appliance" / ("astara-appliance-" + "f" * 36 + ".ha1")
    sock = render_conntrackd.paths(longest)["sock"]
    assert sock.parent == render_conntrackd.SOCKET_DIR
    assert len(str(sock).encode()) <= 40
    assert sock == render_conntrackd.paths(longest)["sock"]  # found again after a restart
    assert sock != render_conntrackd.paths(longest.with_name("astara-appliance-x"))["sock"]


def test_nftables_hears_the_heartbeat_from_the_peer_only():
    base = render_nft.render(ha_config(), NAMES, 5000).base
    assert ('iifname { "ge0" } ip6 saddr { fdca::3 } meta l4proto 112 accept') in base
    assert ('iifname { "ge0" } ip6 saddr { fdca::3 } udp dport 3780 accept') in base
    assert "l4proto 112" not in render_nft.render(plain_config(), NAMES, 5000).base


# --- the plan ---------------------------------------------------------------------

def _observed(addresses=(), routes=()):
    return NetState(tuple(LINKS), frozenset(addresses), frozenset(routes))


def test_plan_leaves_the_virtual_addresses_and_routes_to_keepalived():
    held = {Address("ge1", "203.0.113.2/24"), Address("ge2", "192.0.2.1/24")}
    ops = diff(ha_config(), _observed(held | {Address("ge3", "10.9.9.9/24")}))
    addresses = [o for o in ops if isinstance(o, AddAddress | DelAddress)]
    assert addresses == [DelAddress("ge3", "10.9.9.9/24"), AddAddress("ge0", "fdca::2/64")]
    assert not [o for o in ops if isinstance(o, AddRoute | DelRoute)]
    # a member that held none (backup) gets none added either
    backup = diff(ha_config(), _observed({Address("ge0", "fdca::2/64")}))
    assert not [o for o in backup if isinstance(o, AddAddress | DelAddress | AddRoute)]


def test_plan_leaves_the_floating_ips_keepalived_holds():
    held = {Address("ge1", "203.0.113.9/32"), Address("ge1", "203.0.113.77/32")}
    ops = diff(fip_config(FIP), _observed(held))
    assert [o for o in ops if isinstance(o, DelAddress)] == [
        DelAddress("ge1", "203.0.113.77/32")]  # no floating IP of the document


def test_plan_removes_the_static_routes_a_router_had_before_ha():
    ops = diff(ha_config(), _observed(routes={Route("0.0.0.0/0", "203.0.113.1")}))
    assert DelRoute("0.0.0.0/0", "203.0.113.1") in ops


# --- converge ---------------------------------------------------------------------

@pytest.fixture
def member(tmp_path):
    ports = Ports(netlink=FakeNetlink(LINKS), nft=FakeNft(), dnsmasq=FakeDnsmasq(),
                  sysctl=lambda k, v: None, haproxy=FakeHaproxy(), ha=FakeHaDaemons())
    return Appliance("r1", None, tmp_path, 5000, ports)


def test_an_ha_document_starts_conntrackd_then_keepalived(member):
    result = member.apply(ha_config())
    assert result.error is None and result.ha == "start"
    daemons = member.ports.ha
    assert [k for k, _ in daemons.log] == ["start conntrackd", "start keepalived"]
    p = render_keepalived.paths(member.state_dir)
    assert p["notify"].stat().st_mode & 0o777 == 0o700
    assert p["conf"].stat().st_mode & 0o077 == 0
    added = {(o.ifname, o.cidr) for o in result.ops if isinstance(o, AddAddress)}
    assert added == {("ge0", "fdca::2/64")}
    assert not member.apply(ha_config()).changed


def test_a_change_reloads_keepalived_and_leaves_conntrackd_alone(member):
    member.apply(ha_config())
    daemons = member.ports.ha
    (pid,) = daemons.keepalived.values()
    result = member.apply(ha_config(priority=90))
    assert result.error is None and result.ha == "reload"
    assert daemons.log[-1] == ("reload keepalived", pid)
    assert [k for k, _ in daemons.log].count("start conntrackd") == 1


def test_a_config_keepalived_refuses_keeps_the_old_one_running(member):
    member.apply(ha_config())
    conf = render_keepalived.paths(member.state_dir)["conf"]
    good = conf.read_text()
    member.ports.ha.refuse = "priority 90"
    result = member.apply(ha_config(priority=90))
    assert result.error == "keepalived -t refused the configuration: priority 90"
    assert conf.read_text() == good
    assert [k for k, _ in member.ports.ha.log] == ["start conntrackd", "start keepalived"]
    assert member.config == ha_config()


def test_a_conntrackd_that_does_not_start_gives_way_to_the_old_one(member):
    member.apply(ha_config())
    daemons = member.ports.ha
    daemons.fail_conntrackd = "fdca::4"
    result = member.apply(ha_config(peers=["fdca::4"]))
    assert result.error == "conntrackd failed to start"
    conf = render_conntrackd.paths(member.state_dir)["conf"]
    assert "IPv6_Destination_Address fdca::3" in conf.read_text()
    assert list(daemons.conntrackd) == [conf]  # the old one runs again
    assert len(daemons.keepalived) == 1


def test_a_floating_ip_change_reloads_keepalived_and_announces_nothing(member):
    announced = []
    member.ports.announce = announced.extend
    member.apply(fip_config())
    announced.clear()  # the management address the first apply added
    result = member.apply(fip_config(FIP))
    assert result.error is None and result.ha == "reload" and result.nft == "delta"
    assert result.announced == () and announced == []
    assert "203.0.113.9/32 dev ge1" in render_keepalived.paths(
        member.state_dir)["conf"].read_text()


def test_a_dead_keepalived_is_started_by_the_same_push(member):
    member.apply(ha_config())
    member.ports.ha.keepalived.clear()
    again = member.apply(ha_config())
    assert again.error is None and again.ha == "start"


def test_leaving_ha_stops_keepalived_before_the_plan_adds_the_addresses(member):
    member.apply(ha_config())
    order: list[str] = []
    daemons, netlink = member.ports.ha, member.ports.netlink
    stop, observe = daemons.stop, netlink.observe
    daemons.stop = lambda pid: (order.append("stop"), stop(pid))[1]
    netlink.observe = lambda full=True: (order.append("observe"), observe(full))[1]
    result = member.apply(plain_config())
    assert result.error is None and result.ha == "stop"
    assert order[:3] == ["stop", "stop", "observe"]
    assert not daemons.keepalived and not daemons.conntrackd
    assert not render_keepalived.paths(member.state_dir)["conf"].exists()
    added = {(o.ifname, o.cidr) for o in result.ops if isinstance(o, AddAddress)}
    assert ("ge1", "203.0.113.2/24") in added
    assert AddRoute("0.0.0.0/0", "203.0.113.1") in result.ops


def test_a_router_without_ha_never_touches_the_ha_daemons(member):
    result = member.apply(plain_config())
    assert result.ha == "none" and member.ports.ha.log == []
    assert status_mod.status(member).ha is None


def test_teardown_stops_both(member):
    member.apply(ha_config())
    member.teardown()
    assert not member.ports.ha.keepalived and not member.ports.ha.conntrackd


STATS = """cache internal:
current active connections:                4
connections created:                       9    failed:            0

cache external:
current active connections:                2
connections created:                       2    failed:            0
"""


def test_status_reports_role_and_sync(member):
    member.apply(ha_config())
    member.ports.ha.stats = STATS
    render_keepalived.paths(member.state_dir)["state"].write_text("master\n")
    pids: list[int] = []
    doc = status_mod.status(member, pids)
    assert doc.ha.model_dump() == {"role": "master", "sync": "running",
                                   "internal_connections": 4, "external_connections": 2}
    names = {s.name: s.healthy for s in doc.services}
    assert names["keepalived"] and names["conntrackd"]
    assert {*member.ports.ha.keepalived.values(),
            *member.ports.ha.conntrackd.values()} <= set(pids)  # watched for their exit


@pytest.mark.parametrize(("role", "keepalived", "conntrackd", "stats", "sync", "expected"), [
    ("backup", True, True, STATS, True, ("backup", "running")),
    ("master", False, True, STATS, True, ("unknown", "running")),
    (None, True, False, None, True, ("unknown", "not running")),
    ("fault", True, False, None, False, ("fault", "off")),
])
def test_ha_health(role, keepalived, conntrackd, stats, sync, expected):
    ha = ha_config(conntrack_sync=sync).ha
    found = observe_ha.health(ha, role, keepalived, conntrackd, stats)
    assert (found.role, found.sync) == expected


def test_the_recorded_role_is_only_one_keepalived_reports(tmp_path):
    state = render_keepalived.paths(tmp_path)["state"]
    assert apply_ha.role(tmp_path) is None
    state.write_text("bogus\n")
    assert apply_ha.role(tmp_path) is None
    state.write_text("fault\n")
    assert apply_ha.role(tmp_path) == "fault"


def test_dnsmasq_of_an_ha_member_binds_the_addresses_as_keepalived_adds_them(member):
    member.apply(ha_config())
    conf = (member.state_dir / "dnsmasq-ge2.conf").read_text()
    assert "bind-dynamic" in conf and "bind-interfaces" not in conf


def test_heartbeat_off_the_management_interface_is_dropped_before_conntrack():
    base = render_nft.render(ha_config(), NAMES, 5000).base
    guard = base.index('iifname != "ge0" meta l4proto 112 drop')
    assert guard < base.index("ct state established,related accept")
    assert 'iifname != "ge0" udp dport 3780 drop' in base
    assert "!=" not in render_nft.render(plain_config(), NAMES, 5000).base.split("chain forward")[0]
