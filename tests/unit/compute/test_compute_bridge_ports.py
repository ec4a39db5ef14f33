"""A network's bridge holds at most 1,023 ports (``agent.bridge_ports``): a plug past
that is refused whole, before anything is made, with a line naming the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from astara.compute_service.agent import bridge_ports
from astara.compute_service.agent.backend import BackendError, InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.responders import ProcessResponders
from astara.compute_service.agent.runner import FakeRunner

LIMIT = bridge_ports.BRIDGE_PORTS


def members(n: int) -> set[str]:
    return {f"tap{i}" for i in range(n)}


def test_the_last_port_a_bridge_takes_is_taken():
    assert bridge_ports.refusal({"brq1": members(LIMIT - 1)}, [("brq1", "tapnew", "n1")],
                                "h1") is None


def test_one_more_is_refused_naming_the_network_the_bridge_and_the_host():
    why = bridge_ports.refusal({"brq1": members(LIMIT)}, [("brq1", "tapnew", "n1")], "h1")
    assert why is not None
    assert "network n1 is full on host h1" in why and "brq1" in why
    assert f"has {LIMIT} ports" in why and f"at most {LIMIT}" in why
    assert "this plug needs 1 more" in why


def test_a_plug_of_two_ports_on_one_bridge_counts_both():
    adds = [("brq1", "tapa", "n1"), ("brq1", "tapb", "n1")]
    assert bridge_ports.refusal({"brq1": members(LIMIT - 2)}, adds, "h") is None
    assert bridge_ports.refusal({"brq1": members(LIMIT - 1)}, adds, "h") is not None


def test_a_tap_already_on_its_bridge_takes_no_new_port():
    # a plug retried after an interruption: its tap was enslaved the first time
    full = members(LIMIT - 1) | {"tapnew"}
    assert bridge_ports.refusal({"brq1": full}, [("brq1", "tapnew", "n1")], "h") is None


def test_a_bridge_not_made_yet_has_room():
    assert bridge_ports.refusal({}, [("brq1", "tapnew", "n1")], "h") is None


@pytest.mark.parametrize(("capacity", "tunnelled", "warned"), [
    (200, False, False), (LIMIT, False, False), (LIMIT + 1, False, True), (2000, False, True),
    (LIMIT - 1, True, False), (LIMIT, True, True)])  # a vxlan device takes a port
def test_a_capacity_above_one_bridges_ports_is_said_at_start(capacity, tunnelled, warned):
    line = bridge_ports.capacity_warning(capacity, tunnelled)
    assert (line is not None) is warned
    if line:
        assert f"host_capacity = {capacity}" in line and str(LIMIT) in line
        assert ("vxlan device" in line) is tunnelled


MGMT = {"port_id": "pm", "net_id": "n-mgmt", "mac_address": "fa:16:3e:00:00:01",
        "fixed_ips": [{"ip_address": "192.0.2.10"}], "management": True}
OTHER = {"port_id": "po", "net_id": "n-other", "mac_address": "fa:16:3e:00:00:02",
         "fixed_ips": [{"ip_address": "10.0.0.1"}]}


def test_a_plug_onto_a_full_bridge_makes_nothing(tmp_path: Path, monkeypatch):
    runner = FakeRunner()
    be = NetnsBackend(runner, tmp_path, bridge_prefix="zzqt", netns_prefix="zzt-vm-",
                      appliance_prefix="zzt-app-", host="h1",
                      responders=ProcessResponders(runner, "python"))
    full = be.bridge("n-other")
    monkeypatch.setattr(NetnsBackend, "_bridge_ports", staticmethod(
        lambda br: members(LIMIT) if br == full else set()))
    with pytest.raises(BackendError, match="network n-other is full on host h1"):
        be.create(InstanceSpec("a1", "ak", "appliance", (MGMT, OTHER)))
    made = [" ".join(c) for c in runner.commands
            if " ".join(c).startswith(("ip netns add", "ip link add", "ip link set"))]
    assert made == []
    # the same plug with room: made (what the assertion above would see)
    monkeypatch.setattr(NetnsBackend, "_bridge_ports", staticmethod(lambda br: set()))
    be.create(InstanceSpec("a2", "ak", "appliance", (MGMT, OTHER)))
    assert any(" ".join(c).startswith("ip netns add") for c in runner.commands)


class Overlay:
    def vni(self, net_id: str) -> int:
        return 4242


def test_a_tunnelled_networks_vxlan_device_is_counted_with_the_taps(tmp_path: Path):
    runner = FakeRunner()
    be = NetnsBackend(runner, tmp_path, bridge_prefix="zzqt", netns_prefix="zzt-vm-",
                      appliance_prefix="zzt-app-", host="h1",
                      responders=ProcessResponders(runner, "python"))
    be.overlay = Overlay()  # type: ignore[assignment]
    br, vx = be.bridge("n-other"), be.vxlan_device(4242)
    adds = be._adds([(OTHER, "eth1")])
    assert adds == [(br, be.tap("po"), "n-other"), (br, vx, "n-other")]
    # not yet on the bridge: it and the tap need two ports, one is left
    assert bridge_ports.refusal({br: members(LIMIT - 1)}, adds, "h1") is not None
    # already on it: only the tap
    assert bridge_ports.refusal({br: members(LIMIT - 2) | {vx}}, adds, "h1") is None
