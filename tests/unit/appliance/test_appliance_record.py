"""The applied record: a restarted agent takes over what it applied, or else starts clean.

A "restart" is a new `Appliance` on the same state directory and the same fakes
(the fakes play the kernel, which outlives the agent).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from astara.appliance.apply import record
from astara.appliance.apply.fakes import FakeNft
from astara.appliance.converge import Appliance
from astara.appliance.observe.state import Address, Route
from astara.appliance.plan.ops import AddRoute
from astara.wire.examples import router_config


def restarted(appliance: Appliance, **ports) -> Appliance:
    again = Appliance(appliance.name, appliance.netns, appliance.state_dir,
                      appliance.api_port, dataclasses.replace(appliance.ports, **ports))
    return again


def test_a_restarted_agent_knows_what_it_applied(appliance, netlink):
    appliance.apply(router_config(3))
    assert (appliance.state_dir / record.FILE).stat().st_mode & 0o777 == 0o600
    again = restarted(appliance)
    assert again.restore()
    assert again.config == router_config(3) and again.digest == appliance.digest
    assert again.last_error is None and again.applies == 0
    log, loads = len(netlink.log), len(again.ports.nft.loads)

    assert not again.apply(router_config(3)).changed  # the same push: a no-op
    result = again.apply(router_config(4))  # one more floating IP: the shortcut
    assert result.error is None and result.nft == "delta" and result.ops == []
    assert netlink.log[log:] == [] and again.ports.nft.loads[loads:][0][0] == "delta"
    assert "203.0.113.13" in again.ports.nft.loads[-1][1]

    third = restarted(again)  # and it recorded that one too
    assert third.restore() and third.config == router_config(4)


def test_the_record_keeps_the_floating_ips_in_document_order(appliance, tmp_path):
    config = router_config(5)
    reordered = type(config).model_validate(
        {**config.model_dump(mode="json"),
         "floating_ips": config.model_dump(mode="json")["floating_ips"][::-1]})
    record.save(tmp_path, "stack", reordered)
    stack, raw = record.load(tmp_path)
    assert stack == "stack"
    assert type(config).model_validate(raw).digest() == reordered.digest() != config.digest()


def test_no_record_before_the_first_apply(appliance):
    assert not appliance.restore() and appliance.digest is None


def test_a_failed_apply_leaves_no_record(appliance, netlink):
    appliance.apply(router_config(1))
    netlink.fail_on = AddRoute("10.0.0.0/8", "192.0.2.254")
    appliance.apply(router_config(1, routes=[{"destination": "10.0.0.0/8",
                                              "nexthop": "192.0.2.254"}]))
    assert appliance.last_error is not None
    assert not (appliance.state_dir / record.FILE).exists()
    again = restarted(appliance)
    assert not again.restore() and again.digest is None


def test_a_stack_that_changed_since_is_not_taken_over(appliance, netlink):
    appliance.apply(router_config(1))
    netlink.links["ge2"] = dataclasses.replace(netlink.links["ge2"], up=False)
    again = restarted(appliance)
    assert not again.restore() and again.config is None
    assert not (appliance.state_dir / record.FILE).exists()
    assert again.apply(router_config(1)).nft == "full"  # the first push applies it all


def test_missing_nftables_tables_are_not_taken_over(appliance):
    appliance.apply(router_config(1))
    assert not restarted(appliance, nft=FakeNft()).restore()  # e.g. a flushed ruleset


def test_a_record_of_another_boot_or_namespace_is_stale(appliance):
    appliance.apply(router_config(1))
    path = appliance.state_dir / record.FILE
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "identity": "another-boot/cookie:1"}))
    assert not restarted(appliance).restore()
    assert not path.exists()


def test_an_unreadable_record_is_dropped(appliance):
    appliance.apply(router_config(1))
    path = appliance.state_dir / record.FILE
    path.write_text('{"identity": "x", "config": {"version": "9"}')
    again = restarted(appliance)
    assert not again.restore() and again.digest is None and not path.exists()


def test_teardown_removes_the_record(appliance):
    appliance.apply(router_config(1))
    appliance.teardown()
    assert not (appliance.state_dir / record.FILE).exists()


def test_lost_neighbour_pins_are_put_back_on_takeover(appliance, netlink):
    pinned = router_config(1).model_dump(mode="json")
    pinned["networks"][2]["allocations"] = [
        {"mac_address": "fa:16:3e:aa:00:01", "ip_addresses": ["192.0.2.10"]}]
    appliance.apply(type(router_config()).model_validate(pinned))
    pins = set(netlink.neighbours)
    assert pins  # the example's internal ports are pinned
    netlink.neighbours.clear()  # a link set down and up (compute agent stop/start)
    log, loads = len(netlink.log), len(appliance.ports.nft.loads)
    again = restarted(appliance)
    assert again.restore() and again.digest == appliance.digest  # taken over
    assert netlink.neighbours == pins
    assert {type(op).__name__ for op in netlink.log[log:]} == {"AddNeighbour"}
    assert len(again.ports.nft.loads) == loads and again.applies == 0


def test_takeover_asks_nftables_which_tables_exist_not_for_the_ruleset_text(appliance, netlink):
    appliance.apply(router_config(300))  # the text grows with the floating IPs
    log, reads = len(netlink.log), len(appliance.ports.nft.reads)
    again = restarted(appliance)
    assert again.restore() and again.digest == appliance.digest
    assert again.ports.nft.reads[reads:] == ["tables"]  # one dump, not the text
    assert netlink.log[log:] == []  # nothing written: nothing was missing


def _drop_address(netlink):
    netlink.addresses.discard(next(a for a in netlink.addresses if a.cidr == "203.0.113.2/24"))


def _add_address(netlink):
    netlink.addresses.add(Address("ge1", "203.0.113.99/24"))


def _move_default_route(netlink):
    netlink.routes.discard(Route("0.0.0.0/0", "203.0.113.1"))
    netlink.routes.add(Route("0.0.0.0/0", "203.0.113.254"))


def _change_mtu(netlink):
    netlink.links["ge3"] = dataclasses.replace(netlink.links["ge3"], mtu=1400)


def _replace_interface(netlink):
    netlink.links["ge3"] = dataclasses.replace(netlink.links["ge3"], mac_address="fa:16:3e:ff:0:9")


@pytest.mark.parametrize("change", [_drop_address, _add_address, _move_default_route,
                                    _change_mtu, _replace_interface])
def test_a_stack_changed_while_the_agent_was_away_is_not_taken_over(appliance, netlink, change):
    appliance.apply(router_config(1))
    change(netlink)
    again = restarted(appliance)
    assert not again.restore() and again.digest is None and again.config is None
    assert not (appliance.state_dir / record.FILE).exists()
    result = again.apply(router_config(1))  # the first push applies it all
    if change is _replace_interface:  # or says the document does not fit any more
        assert result.rejected and again.digest is None
    else:
        assert result.error is None and result.nft == "full"


def test_one_missing_nftables_table_is_enough_to_refuse(appliance):
    appliance.apply(router_config(1))
    nft = FakeNft()
    nft.load_full("table inet astara {\n}\n")  # the netdev table (ARP for floating IPs) is gone
    assert not restarted(appliance, nft=nft).restore()
