"""The overlay's records on SQLite: VNIs shared by hosts and unique, peers from live hosts
with ports on a network, hosts' tunnel addresses from the agent, and one sync pass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.common.settings import DatabaseSettings, sqlite_url
from astara.compute_service import jobs
from astara.compute_service.agent import reconcile, vxlan
from astara.compute_service.agent.backend import BackendError, FakeBackend
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.overlay import Overlay, OverlayError
from astara.compute_service.agent.runner import CommandError, FakeRunner
from astara.compute_service.agent.worker import Agent
from astara.compute_service.models import Host, Instance, NetworkVni
from astara.db import migrate

NET_A = "aaaaaaaa-0000-4000-8000-000000000001"
NET_B = "bbbbbbbb-0000-4000-8000-000000000002"


@pytest.fixture
def db(tmp_path):
    database = migrate.open_database(DatabaseSettings(sqlite_url(tmp_path), auto_migrate=True))
    yield database
    database.dispose()


def overlay(db, host: str, runner=None) -> Overlay:
    return Overlay(db, runner or FakeRunner(), host, "10.0.0.1", 60.0, "vxbrq")


def add_host(db, name: str, address: str | None, age: float = 0.0) -> None:
    with db.write() as s:
        s.add(Host(name=name, tunnel_address=address,
                   updated_at=jobs.now() - timedelta(seconds=age)))


def add_instance(db, iid: str, host: str, nets: list[str], deleted: bool = False) -> None:
    now = jobs.now()
    with db.write() as s:
        s.add(Instance(id=iid, project_id="p", name=iid, host=host, flavor_id="f",
                       image_id="i", created_at=now, updated_at=now, deleted=deleted,
                       ports=[{"port_id": f"{iid}-{n}", "net_id": n} for n in nets]))


def test_every_host_gets_the_same_vni_and_networks_never_share_one(db):
    a, b = overlay(db, "a"), overlay(db, "b")
    vni_a = a.vni(NET_A)
    assert b.vni(NET_A) == vni_a == vxlan.vni_start(NET_A)
    assert b.vni(NET_B) != vni_a
    with db.read() as s:
        assert {r.network_id: r.vni for r in s.query(NetworkVni)} == \
            {NET_A: vni_a, NET_B: b.vni(NET_B)}
    assert a.networks() == {vni_a: NET_A, b.vni(NET_B): NET_B}


def test_a_vni_another_network_holds_is_skipped(db):
    with db.write() as s:  # as if another network had hashed to NET_A's start first
        s.add(NetworkVni(network_id=NET_B, vni=vxlan.vni_start(NET_A), created_at=jobs.now()))
    assert overlay(db, "a").vni(NET_A) == vxlan.vni_start(NET_A) + 1


def test_peers_are_live_tunnelled_hosts_with_live_ports_on_the_network(db):
    for name, address, age in [("a", "10.0.0.1", 0), ("b", "10.0.0.2", 0),
                               ("c", "10.0.0.3", 0), ("old", "10.0.0.4", 600),
                               ("flat", None, 0)]:
        add_host(db, name, address, age)
    add_instance(db, "i1", "a", [NET_A])
    add_instance(db, "i2", "b", [NET_A, NET_B])
    add_instance(db, "i3", "c", [NET_B], deleted=True)
    add_instance(db, "i4", "old", [NET_A])
    add_instance(db, "i5", "flat", [NET_A])
    assert overlay(db, "a").peer_map() == {NET_A: {"10.0.0.2"}, NET_B: {"10.0.0.2"}}
    assert overlay(db, "b").peers(NET_A) == {"10.0.0.1"}
    assert overlay(db, "b").peers(NET_B) == frozenset()


class Scripted(FakeRunner):
    """A runner answering ``ip``/``bridge`` reads with fixed JSON."""

    def __init__(self, answers: dict[str, object]):
        super().__init__()
        self.answers = answers

    def run(self, argv, check=True, stdin=None):
        super().run(argv, check, stdin)
        return json.dumps(self.answers.get(" ".join(argv), []))


def test_sync_adds_the_missing_peers_and_drops_the_gone_ones(db):
    add_host(db, "a", "10.0.0.1")
    add_host(db, "b", "10.0.0.2")
    add_instance(db, "i2", "b", [NET_A])
    vni = overlay(db, "a").vni(NET_A)
    runner = Scripted({
        "ip -d -j link show type vxlan": [
            {"ifname": "vxbrqaaaaaaaa00", "linkinfo": {"info_data": {"id": vni}}},
            {"ifname": "vxlan-theirs", "linkinfo": {"info_data": {"id": 7}}}],
        "bridge -j fdb show": [
            {"mac": vxlan.FLOOD, "ifname": "vxbrqaaaaaaaa00", "dst": "10.0.0.9"}]})
    lines = overlay(db, "a", runner).sync()
    assert lines == [f"fdb append {vxlan.FLOOD} dev vxbrqaaaaaaaa00 dst 10.0.0.2",
                     f"fdb del {vxlan.FLOOD} dev vxbrqaaaaaaaa00 dst 10.0.0.9"]
    assert runner.commands[-1] == ["bridge", "-force", "-batch", "-"]
    assert runner.stdin[-1] == "\n".join(lines) + "\n"


def test_mtu_is_the_underlay_interface_less_the_encapsulation(db):
    runner = Scripted({"ip -j addr show": [
        {"ifname": "lo", "mtu": 65536, "addr_info": [{"local": "127.0.0.1"}]},
        {"ifname": "eth1", "mtu": 9000, "addr_info": [{"local": "10.0.0.1"}]}]})
    assert overlay(db, "a", runner).mtu() == 8950
    with pytest.raises(RuntimeError, match="on no interface"):
        Overlay(db, Scripted({}), "a", "10.0.0.1", 60.0, "vxbrq").mtu()


def test_the_agent_records_its_tunnel_address_and_none_without_one(db, tmp_path):
    def agent(host, address):
        return Agent(db, FakeBackend(), host, OutboxPublisher(WakeupDir(tmp_path / "w")),
                     WakeupDir(tmp_path / "j"), tunnel_address=address)

    agent("a", "10.0.0.1").register()
    agent("b", None).register()
    with db.write() as s:
        s.delete(s.get(Host, "a"))  # an operator removed it: the heartbeat puts it back
    agent("a", "10.0.0.1").heartbeat()
    with db.read() as s:
        assert s.get(Host, "a").tunnel_address == "10.0.0.1"
        assert s.get(Host, "b").tunnel_address is None


def test_an_ipv6_peer_is_no_peer_of_an_ipv4_host_and_is_warned_once(db, caplog):
    add_host(db, "a", "10.0.0.1")
    add_host(db, "b", "10.0.0.2")
    add_host(db, "six", "2001:db8::6")
    add_instance(db, "i2", "b", [NET_A])
    add_instance(db, "i6", "six", [NET_A])
    o = overlay(db, "a")
    assert o.peers(NET_A) == {"10.0.0.2"}
    o.peers(NET_A)
    assert len([r for r in caplog.records if "2001:db8::6" in r.getMessage()]) == 1


class Failing(Scripted):
    """``bridge`` batches fail; single lines fail when they name ``bad``."""

    def __init__(self, answers, bad: str):
        super().__init__(answers)
        self.bad = bad

    def run(self, argv, check=True, stdin=None):
        out = super().run(argv, check, stdin)
        if argv[0] == "bridge" and ("-batch" in argv or self.bad in argv):
            raise CommandError(argv, 1, "RTNETLINK answers: Address family not supported")
        return out


def test_sync_logs_failed_lines_as_failures_not_applied(db, caplog):
    add_host(db, "a", "10.0.0.1")
    for name, address in [("b", "10.0.0.2"), ("c", "10.0.0.3")]:
        add_host(db, name, address)
        add_instance(db, f"i{name}", name, [NET_A])
    vni = overlay(db, "a").vni(NET_A)
    runner = Failing({"ip -d -j link show type vxlan": [
        {"ifname": "vxbrqaaaaaaaa00", "linkinfo": {"info_data": {"id": vni}}}]}, "10.0.0.3")
    lines = overlay(db, "a", runner).sync()
    assert lines == [f"fdb append {vxlan.FLOOD} dev vxbrqaaaaaaaa00 dst 10.0.0.2"]
    assert any("10.0.0.3 failed" in r.getMessage() for r in caplog.records)


class DownDb:
    """A compute database that cannot be read."""

    def read(self):
        raise OperationalError("SELECT", {}, Exception("database is locked"))


def test_a_database_error_in_sync_is_an_overlay_error_then_a_backend_error(tmp_path,
                                                                           monkeypatch):
    runner = Scripted({"ip -d -j link show type vxlan": [
        {"ifname": "vxbrqaaaaaaaa00", "linkinfo": {"info_data": {"id": 7}}}]})
    down = Overlay(DownDb(), runner, "a", "10.0.0.1", 60.0, "vxbrq")  # type: ignore[arg-type]
    with pytest.raises(OverlayError, match="compute database: OperationalError"):
        down.sync()
    b = NetnsBackend(runner, tmp_path, responders=object(), overlay=down)  # type: ignore
    with pytest.raises(BackendError, match="not synced"):
        b.sync_tunnels()


@dataclass
class TunnelsDown(FakeBackend):
    def sync_tunnels(self) -> list[str]:
        raise BackendError("VXLAN flood entries not synced: compute database: Error")


def test_reconcile_reports_a_failed_sync_and_keeps_its_report(db, caplog):
    out = reconcile.run(db, TunnelsDown(), "a", {"ports", "orphans"})
    assert out["flood_entries_error"].startswith("VXLAN flood entries not synced")
    assert out["fixed"] == [] and "ports" in out
    assert [r.getMessage() for r in caplog.records if "not synced" in r.getMessage()] == [
        "reconcile: VXLAN flood entries not synced: compute database: Error"]
