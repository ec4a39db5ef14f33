"""Table tests for the pure nftables and dnsmasq renderers."""

from pathlib import Path

import pytest
from _appliance_support import NAMES

from astara.appliance.render import dnsmasq, nft
from astara.wire import parse_config
from astara.wire.examples import loadbalancer_document, router_config


def test_ruleset_keeps_tenants_off_the_management_plane():
    base = nft.render(router_config(), NAMES, 5000).base
    assert 'iifname { "ge0" } tcp dport 5000 accept' in base
    assert base.count("dport 5000") == 1
    assert "policy drop" in base
    assert 'iifname { "ge2", "ge3" } ip daddr 169.254.169.254 tcp dport 80 redirect to :9697' \
        in base
    assert 'iifname { "ge1" } ct status dnat accept' in base
    assert "snat ip to 203.0.113.2" in base


def test_without_snat_only_floating_ips_are_translated():
    config = router_config(1).model_copy(update={"enable_snat": False})
    base = nft.render(config, NAMES, 5000).base
    assert "snat ip to 203.0.113.2" not in base
    assert 'oifname { "ge1" } snat ip to ip saddr map @fip_snat4' in base
    assert "counter snat4 {}" in base  # the status still reads the (idle) counter
    assert "203.0.113.10 : 192.0.2.10" in nft.render(config, NAMES, 5000).full()


def test_floating_ips_are_map_elements_not_rules():
    one, many = nft.render(router_config(1), NAMES, 5000), nft.render(router_config(50),
                                                                     NAMES, 5000)
    assert one.base == many.base
    assert ("203.0.113.10", "192.0.2.10") in one.floating
    assert "203.0.113.10 : 192.0.2.10" in one.full()
    assert one.full().startswith("table inet astara {}\ndelete table inet astara\n"
                                 "table netdev astara {}\ndelete table netdev astara\n")
    assert "add element netdev astara fip_arp { 203.0.113.10 }" in one.full()


def test_arp_for_floating_ips_is_answered_on_the_external_interface_only():
    base = nft.render(router_config(), NAMES, 5000).base
    assert 'type filter hook ingress device "ge1"' in base
    assert "arp operation request arp daddr ip @fip_arp" in base
    assert 'arp saddr ether set fa:16:3e:00:00:02' in base and 'fwd to "ge1"' in base
    no_ext = router_config().model_dump(mode="json")
    del no_ext["networks"][1]
    doc = type(router_config()).model_validate(no_ext)
    assert "netdev" not in nft.render(doc, NAMES, 5000).base


def test_with_floating_ips_formats_only_the_change():
    one, two = router_config(1), router_config(2)
    ruleset = nft.render(one, NAMES, 5000)
    moved = nft.with_floating_ips(ruleset, one.floating_ip_pairs(), two.floating_ip_pairs())
    assert moved == nft.render(two, NAMES, 5000)


def test_fip_delta_moves_and_adds_in_one_transaction():
    old = frozenset({("203.0.113.10", "192.0.2.10"), ("203.0.113.11", "192.0.2.11")})
    new = frozenset({("203.0.113.10", "192.0.2.20"), ("203.0.113.11", "192.0.2.11"),
                     ("203.0.113.12", "192.0.2.12")})
    assert nft.fip_delta(old, new) == (
        "delete element inet astara fip_dnat4 { 203.0.113.10 }\n"
        "delete element inet astara fip_snat4 { 192.0.2.10 }\n"
        "add element inet astara fip_dnat4 { 203.0.113.10 : 192.0.2.20, "
        "203.0.113.12 : 192.0.2.12 }\n"
        "add element inet astara fip_snat4 { 192.0.2.20 : 203.0.113.10, "
        "192.0.2.12 : 203.0.113.12 }\n"
        "add element netdev astara fip_arp { 203.0.113.12 }\n"  # .10 moved: still answered
    )
    assert "delete element netdev astara fip_arp { 203.0.113.12 }\n" in nft.fip_delta(new, old)
    assert nft.fip_delta(old, old) == ""


def _net1(**changes):
    doc = router_config().model_dump(mode="json")
    doc["networks"][2].update(changes)
    return type(router_config()).model_validate(doc).networks[2]


def test_dnsmasq_static_leases_and_slaac_ra():
    net = _net1(allocations=[{"mac_address": "fa:16:3e:aa:00:01",
                              "ip_addresses": ["192.0.2.10", "fd00:1::10"],
                              "hostname": "vm-1"}])
    files = dnsmasq.render(net, "ge2", Path("/st"))
    assert "interface=ge2\n" in files.conf and "enable-ra\n" in files.conf
    assert "static,255.255.255.0,86400s" in files.conf
    assert ",fd00:1::,ra-only\n" in files.conf
    assert "dhcp-hostsfile=/st/dnsmasq-ge2.hosts\n" in files.conf
    assert files.hosts == "fa:16:3e:aa:00:01,192.0.2.10,[fd00:1::10],vm-1,86400s\n"
    assert files.addn_hosts == "192.0.2.10 vm-1\nfd00:1::10 vm-1\n"
    assert ",option:router,192.0.2.1\n" in files.opts


def test_allocation_changes_touch_only_reloadable_files():
    a = dnsmasq.render(_net1(), "ge2", Path("/st"))
    b = dnsmasq.render(_net1(allocations=[{"mac_address": "fa:16:3e:aa:00:02",
                                            "ip_addresses": ["192.0.2.11"]}]), "ge2", Path("/st"))
    assert a.conf == b.conf and a.hosts != b.hosts


def test_host_routes_and_dns_become_options():
    net = _net1(subnets=[{"cidr": "192.0.2.0/24", "gateway_ip": "192.0.2.1",
                          "dns_nameservers": ["198.51.100.53"],
                          "host_routes": [{"destination": "10.0.0.0/8",
                                           "nexthop": "192.0.2.254"}]}])
    opts = dnsmasq.render(net, "ge2", Path("/st")).opts
    assert "option:dns-server,198.51.100.53" in opts
    assert "classless-static-route,10.0.0.0/8,192.0.2.254,0.0.0.0/0,192.0.2.1" in opts


@pytest.mark.parametrize(("mode", "dhcp_range"), [
    ("slaac", ",fd00:1::,ra-only\n"),
    ("dhcpv6-stateless", ",fd00:1::,ra-stateless\n"),
    # static: only the allocations' addresses are leased (no pool)
    ("dhcpv6-stateful", ",fd00:1::,static,64,86400s\n"),
])
def test_ipv6_modes_set_the_dhcp_range_and_dns_servers_go_to_dhcpv6(mode, dhcp_range):
    net = _net1(subnets=[{"cidr": "fd00:1::/64", "gateway_ip": "fd00:1::1",
                          "ipv6_ra_mode": mode, "ipv6_address_mode": mode,
                          "dns_nameservers": ["fd00:53::1", "fd00:53::2"]}],
                allocations=[{"mac_address": "fa:16:3e:aa:00:01",
                              "ip_addresses": ["fd00:1::10"]}])
    files = dnsmasq.render(net, "ge2", Path("/st"))
    assert f"dhcp-range=set:{dnsmasq.tag(net.subnets[0])}{dhcp_range}" in files.conf
    assert files.opts == (f"tag:{dnsmasq.tag(net.subnets[0])},option6:dns-server,"
                          "[fd00:53::1],[fd00:53::2]\n")
    assert files.hosts == "fa:16:3e:aa:00:01,[fd00:1::10],86400s\n"


def test_subnet_without_dhcp_or_ra_is_not_served():
    net = _net1(subnets=[{"cidr": "192.0.2.0/24", "dhcp_enabled": False},
                         {"cidr": "fd00:1::/64"}])
    assert dnsmasq.served(net) == []


LB_NAMES = {"mgmt": "ge0", "vipnet": "ge2"}


def _lb_ruleset(**lb_overrides):
    return nft.render(parse_config(loadbalancer_document(**lb_overrides)), LB_NAMES, 5000).base


def test_load_balancer_lets_in_only_enabled_listeners_on_the_vip_and_forwards_nothing():
    text = _lb_ruleset()
    assert 'iifname { "ge2" } ip daddr 192.0.2.10 tcp dport { 80, 443 } accept' in text
    assert 'iifname { "ge0" } tcp dport 5000 accept' in text
    assert "type nat" not in text and "dport { 67, 547 }" not in text
    assert "chain forward {\n    type filter hook forward priority filter; policy drop;\n  }" \
        in text
    assert "table netdev astara" in text  # the same tables as a router's
    listeners = [{"id": "a", "protocol": "TCP", "protocol_port": 80},
                 {"id": "b", "protocol": "TCP", "protocol_port": 81, "admin_state_up": False}]
    assert "tcp dport { 80 } accept" in _lb_ruleset(listeners=listeners, pools=[])
    assert "ip daddr" not in _lb_ruleset(admin_state_up=False)


def test_a_fresh_full_ruleset_creates_the_tables_without_deleting_them():
    config = router_config(2)
    names = {n.network_id: f"eth{i}" for i, n in enumerate(config.networks)}
    ruleset = nft.render(config, names, 5000)
    assert ruleset.full().startswith("table inet astara {}\ndelete table inet astara\n")
    fresh = ruleset.full(fresh=True)
    assert "delete" not in fresh
    assert fresh == ruleset.full().split("delete table netdev astara\n", 1)[1]
