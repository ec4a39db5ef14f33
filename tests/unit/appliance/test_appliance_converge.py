"""Converge behaviour against the in-tree fakes: no-ops, deltas, reloads, rollback."""

import dataclasses

from astara.appliance.plan.ops import AddNeighbour, AddRoute, SetLink
from astara.wire.examples import router_config


def _alloc(mac, ip):
    return {"mac_address": mac, "ip_addresses": [ip]}


def _with_allocs(n_fip, allocs):
    doc = router_config(n_fip).model_dump(mode="json")
    doc["networks"][2]["allocations"] = allocs
    return type(router_config()).model_validate(doc)


def test_first_apply_loads_everything_and_identical_push_is_a_noop(appliance):
    first = appliance.apply(router_config(1))
    assert first.error is None and first.nft == "full"
    assert first.dhcp == ["start ge2", "start ge3"]
    again = appliance.apply(router_config(1))
    assert not again.changed and appliance.applies == 1


def test_identical_push_starts_a_dnsmasq_that_died_and_touches_nothing_else(appliance,
                                                                           netlink):
    appliance.apply(router_config(1))
    dnsmasq = appliance.ports.dnsmasq
    dead = dnsmasq.pids.pop(next(c for c in dnsmasq.pids if c.name == "dnsmasq-ge2.conf"))
    loads, ops = len(appliance.ports.nft.loads), len(netlink.log)
    again = appliance.apply(router_config(1))
    assert again.error is None and again.dhcp == ["start ge2"] and again.nft == "none"
    assert len(appliance.ports.nft.loads) == loads and netlink.log[ops:] == []
    assert dead not in dnsmasq.pids.values() and len(dnsmasq.pids) == 2
    assert not appliance.apply(router_config(1)).changed  # all there again: a no-op


def test_floating_ip_change_is_only_an_nft_delta(appliance, netlink):
    appliance.apply(router_config(1))
    before = len(netlink.log)
    result = appliance.apply(router_config(2))
    assert result.nft == "delta" and result.dhcp == [] and result.ops == []
    assert netlink.log[before:] == []
    kind, text = appliance.ports.nft.loads[-1]
    assert kind == "delta" and "fip_arp { 203.0.113.11 }" in text
    assert appliance.config == router_config(2) and appliance.applies == 2


def test_refused_floating_ip_delta_falls_back_to_a_full_load(appliance):
    appliance.apply(router_config(1))
    appliance.ports.nft.fail_next = True
    result = appliance.apply(router_config(2))
    assert result.error is None and result.nft == "full"
    assert "203.0.113.11 : 192.0.2.11" in appliance.ports.nft.loads[-1][1]


def test_floating_ip_change_after_a_failure_converges_everything(appliance, netlink):
    appliance.apply(router_config(1))
    netlink.fail_on = AddRoute("10.0.0.0/8", "192.0.2.254")
    appliance.apply(router_config(1, routes=[{"destination": "10.0.0.0/8",
                                              "nexthop": "192.0.2.254"}]))
    netlink.fail_on = None
    netlink.links["ge2"] = dataclasses.replace(netlink.links["ge2"], up=False)  # drift
    result = appliance.apply(router_config(2))  # not the shortcut: it observes and repairs
    assert result.error is None and appliance.last_error is None
    assert result.ops == [SetLink("ge2", 1500, True, 1500, False)]


def test_allocation_change_reloads_only_that_dnsmasq(appliance):
    appliance.apply(_with_allocs(0, []))
    result = appliance.apply(_with_allocs(0, [_alloc("fa:16:3e:aa:00:01", "192.0.2.10")]))
    assert result.dhcp == ["reload ge2"]
    # the new port's address is pinned to its MAC (PERMANENT neighbour), nothing else
    assert result.nft == "none"
    assert result.ops == [AddNeighbour("ge2", "192.0.2.10", "fa:16:3e:aa:00:01")]


def test_removed_network_stops_its_dnsmasq(appliance):
    appliance.apply(router_config())
    doc = router_config().model_dump(mode="json")
    del doc["networks"][3]
    result = appliance.apply(type(router_config()).model_validate(doc))
    assert result.dhcp == ["stop ge3"] and result.nft == "full"


def test_failure_rolls_back_to_last_good(appliance, netlink):
    appliance.apply(router_config(1))
    good = netlink.observe()
    bad = router_config(3, routes=[{"destination": "10.0.0.0/8", "nexthop": "192.0.2.254"}])
    netlink.fail_on = AddRoute("10.0.0.0/8", "192.0.2.254")
    result = appliance.apply(bad)
    assert "injected failure" in result.error
    assert netlink.observe() == good
    assert appliance.config == router_config(1) and appliance.last_error == result.error
    netlink.fail_on = None
    assert appliance.apply(bad).error is None  # a retry after an error is not a no-op


def test_nft_refusal_rolls_back_netlink(appliance, netlink):
    appliance.apply(router_config(1))
    good = netlink.observe()
    doc = router_config(1).model_dump(mode="json")
    doc["networks"][1]["interface"]["addresses"] = ["203.0.113.3/24"]
    appliance.ports.nft.fail_next = True
    result = appliance.apply(type(router_config()).model_validate(doc))
    assert result.error == "injected nft failure"
    assert netlink.observe() == good
    assert appliance.ports.nft.loads[-1][0] == "full"  # the last good ruleset, reloaded


def test_missing_interface_changes_nothing(appliance, netlink):
    doc = router_config().model_dump(mode="json")
    doc["networks"][3]["interface"]["mac_address"] = "fa:16:3e:99:99:99"
    result = appliance.apply(type(router_config()).model_validate(doc))
    assert "no interface with MAC" in result.error
    assert netlink.log == [] and appliance.ports.dnsmasq.log == []


def test_apply_answers_arp_only_for_the_receiving_interface(appliance):
    written: dict[str, str] = {}
    appliance.ports.sysctl = written.__setitem__
    assert appliance.apply(router_config(1)).error is None
    for scope in ("all", "default"):
        assert written[f"net.ipv4.conf.{scope}.arp_ignore"] == "1"
        assert written[f"net.ipv4.conf.{scope}.arp_announce"] == "2"
        assert written[f"net.ipv4.conf.{scope}.proxy_arp"] == "0"
    assert written["net.ipv4.ip_forward"] == "1"


def test_a_first_push_creates_the_tables_without_deleting_them_first(appliance):
    nft = appliance.ports.nft
    assert appliance.apply(router_config(1)).error is None
    assert nft.loads[-1][0] == "full" and "delete table" not in nft.loads[-1][1]
    assert nft.reads == ["tables"]


def test_tables_already_there_at_a_first_push_are_replaced(appliance):
    nft = appliance.ports.nft
    nft.loads.append(("full", "table inet astara {\n}\n"))  # left by an earlier agent
    assert appliance.apply(router_config(1)).error is None
    assert "delete table inet astara" in nft.loads[-1][1]


def test_a_changed_base_replaces_the_tables_without_looking(appliance):
    nft = appliance.ports.nft
    assert appliance.apply(router_config(1)).error is None
    nft.reads.clear()
    changed = router_config(1).model_dump(mode="json")
    del changed["networks"][3]  # net2 leaves: the base ruleset changes
    assert appliance.apply(type(router_config()).model_validate(changed)).error is None
    assert "delete table inet astara" in nft.loads[-1][1] and nft.reads == []


def test_forwarding_is_turned_on_once_the_firewall_is_loaded(appliance):
    events: list[str] = []
    appliance.ports.sysctl = lambda key, value: events.append(key)
    nft, dnsmasq = appliance.ports.nft, appliance.ports.dnsmasq
    load_full, launch = nft.load_full, dnsmasq.launch
    nft.load_full = lambda text: (events.append("nft"), load_full(text))[1]

    def launched(conf, pid_file):
        events.append("dnsmasq begun")
        return launch(conf, pid_file)
    dnsmasq.launch = launched
    assert appliance.apply(router_config(1)).error is None
    nft_at = events.index("nft")
    assert all(events.index(k) < nft_at for k in events if "arp" in k)  # before any address
    forwarding = [events.index("net.ipv4.ip_forward"),
                  events.index("net.ipv6.conf.all.forwarding")]
    begun = [i for i, e in enumerate(events) if e == "dnsmasq begun"]
    assert len(begun) == 2 and max(forwarding) < min(begun) and min(forwarding) > nft_at


def test_ipv6_is_turned_on_where_the_document_gives_an_ipv6_address_before_it(appliance,
                                                                             netlink):
    """The compute agent plugs an interface whose port has no IPv6 fixed IP with IPv6
    off, and the kernel refuses an IPv6 address there: on before the netlink batch,
    only on the management interface and net1 (the example's IPv6 networks)."""
    events: list[tuple[str, str]] = []
    appliance.ports.sysctl = lambda key, value: events.append((key, value))
    run = netlink.run
    netlink.run = lambda ops, done: (events.append(("netlink", "")), run(ops, done))[1]
    assert appliance.apply(router_config(1)).error is None
    on = [(k, v) for k, v in events if k.endswith(".disable_ipv6")]
    assert on == [("net.ipv6.conf.ge0.disable_ipv6", "0"),
                  ("net.ipv6.conf.ge2.disable_ipv6", "0")]
    assert max(events.index(e) for e in on) < events.index(("netlink", ""))


PINNED = _with_allocs(1, [_alloc("fa:16:3e:aa:00:01", "192.0.2.10"),
                          _alloc("fa:16:3e:aa:00:02", "192.0.2.11")])


def test_identical_push_puts_back_lost_neighbour_pins_and_touches_nothing_else(appliance,
                                                                            netlink):
    appliance.apply(PINNED)
    pins = set(netlink.neighbours)
    assert pins
    appliance.pins_watched = True  # as under the host, which sets `pins_unsure` on changes
    assert not appliance.apply(PINNED).changed  # nothing lost
    lost = sorted(pins, key=lambda n: n.ip)[0]
    netlink.neighbours.discard(lost)  # a link set down and up flushes its pins
    appliance.pins_unsure = True  # the kernel said something changed
    log, loads, dhcp = len(netlink.log), len(appliance.ports.nft.loads), \
        dict(appliance.ports.dnsmasq.pids)
    again = appliance.apply(PINNED)
    assert again.error is None and again.ops == [AddNeighbour(lost.ifname, lost.ip, lost.mac)]
    assert netlink.neighbours == pins and netlink.log[log:] == again.ops
    assert len(appliance.ports.nft.loads) == loads and appliance.ports.dnsmasq.pids == dhcp
    assert appliance.applies == 1 and not appliance.pins_unsure
    netlink.neighbours.discard(lost)  # no change reported: not looked at
    assert not appliance.apply(PINNED).changed and lost not in netlink.neighbours
