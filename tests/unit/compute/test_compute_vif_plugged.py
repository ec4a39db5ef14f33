"""A port's link came up: which DHCP clients of a tenant instance restart (pure), and
what the netns backend runs for it (fake runner)."""

from __future__ import annotations

import pytest

from astara.compute_service.agent import netns as netns_mod
from astara.compute_service.agent import profiles
from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.responders import ProcessResponders
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.agent.vif_plugged import Plan, plan

P0 = {"port_id": "p0", "mac_address": "FA:16:3E:00:00:01"}
P1 = {"port_id": "p1", "mac_address": "fa:16:3e:00:00:02"}
P2 = {"port_id": "p2", "mac_address": "fa:16:3e:00:00:03"}


def link(ifname: str, mac: str, *addrs: tuple[str, str, str]) -> dict:
    return {"ifname": ifname, "address": mac,
            "addr_info": [{"family": f, "local": a, "scope": s} for f, a, s in addrs]}


LINKS = [
    link("lo", "00:00:00:00:00:00", ("inet", "127.0.0.1", "host")),
    link("eth0", "fa:16:3e:00:00:01", ("inet6", "fe80::1", "link")),
    link("eth1", "fa:16:3e:00:00:02", ("inet", "10.0.0.5", "global")),
]


def test_an_unbound_interface_restarts_and_a_bound_one_is_left_alone():
    assert plan([P0, P1], ["p0", "p1"], LINKS) == Plan(("eth0",), ("eth1",), ())


def test_a_link_local_or_ipv6_address_is_not_a_lease():
    only_v6 = [link("eth0", "fa:16:3e:00:00:01", ("inet6", "fd00::5", "global"),
                    ("inet", "169.254.1.1", "link"))]
    assert plan([P0], ["p0"], only_v6).restart == ("eth0",)


def test_all_ports_when_none_named_and_unknown_or_unplugged_ports_are_reported():
    assert plan([P0, P1, P2], None, LINKS) == Plan(("eth0",), ("eth1",), ("p2",))
    assert plan([P0], ["p9", "p0", "p0"], LINKS) == Plan(("eth0",), (), ("p9",))


def test_a_port_without_a_mac_matches_no_interface_not_any_without_one():
    no_mac = {"port_id": "p3"}
    tun = {"ifname": "tun0", "addr_info": []}  # a link with no address of its own
    assert plan([no_mac], ["p3"], [*LINKS, tun]) == Plan((), (), ("p3",))


def test_nothing_to_do_on_an_empty_namespace():
    assert plan([P0], ["p0"], []) == Plan((), (), ("p0",))
    assert plan([P0], ["p0"], []).summary() == "not plugged: p0"
    assert Plan().summary() == "nothing to do"


class AddrRunner(FakeRunner):
    """A fake runner whose namespace addresses are ``links``."""

    def __init__(self, links: list[dict]):
        super().__init__()
        self.links = links

    def addresses(self, netns: str) -> list[dict]:
        super().addresses(netns)
        return self.links


@pytest.fixture
def backend_of(tmp_path, monkeypatch):
    monkeypatch.setattr(netns_mod, "NETNS_DIR", tmp_path / "netns")
    (tmp_path / "netns").mkdir()

    def make(links: list[dict], profile: str = "tenant", running: bool = True):
        runner = AddrRunner(links)
        backend = NetnsBackend(runner, tmp_path / "state",
                               responders=ProcessResponders(runner, "python"))
        spec = InstanceSpec("i1", "vm", profile, (P0, P1))
        (tmp_path / "netns" / backend.netns("i1", profile)).touch()
        if running and profile == "tenant":
            backend._start_processes(spec, backend.netns("i1"), ["eth0", "eth1"])
        return backend, runner, spec
    return make


def dhclient_spawns(runner: FakeRunner) -> list[str]:
    return sorted(p.name for p, argv in runner.processes.items() if "dhclient" in argv)


def test_backend_restarts_only_the_unbound_clients_dhclient(backend_of):
    backend, runner, spec = backend_of(LINKS)
    runner.processes = {p: argv for p, argv in runner.processes.items()
                        if p.name != "dhclient-eth0.pid"}  # so a new spawn shows
    before = dict(runner.processes)
    log = backend.link_up(spec, ("p0", "p1"))
    assert log == "DHCP client restarted: eth0; bound, left alone: eth1"
    assert dhclient_spawns(runner) == ["dhclient-eth0.pid", "dhclient-eth1.pid"]
    eth0 = next(argv for p, argv in runner.processes.items() if p.name == "dhclient-eth0.pid")
    assert eth0[:2] == ["nsenter", f"--net=/run/netns/{backend.netns('i1')}"] \
        and eth0[-1] == "eth0"
    assert {p: a for p, a in runner.processes.items() if p.name != "dhclient-eth0.pid"} \
        == before


def test_backend_leaves_appliances_gone_and_stopped_instances_alone(backend_of, tmp_path):
    backend, runner, spec = backend_of(LINKS, profile="appliance")
    assert "appliance" in backend.link_up(spec, ("p0",))
    assert runner.commands == [] and runner.processes == {}
    backend, runner, spec = backend_of(LINKS, running=False)
    assert "nothing to do" in backend.link_up(spec, ("p0",))
    assert runner.processes == {}
    backend, runner, spec = backend_of(LINKS)
    (tmp_path / "netns" / backend.netns("i1")).unlink()
    spawned = dict(runner.processes)
    assert "nothing to do" in backend.link_up(spec, ("p0",))
    assert runner.processes == spawned


def test_a_restarted_client_starts_without_the_killed_ones_own_pid_file(tmp_path):
    # SIGKILL leaves the old client's own pid file: a new one must not read it as live
    runner = FakeRunner()
    own = tmp_path / "dhclient-eth0.own.pid"
    own.write_text("4242\n")
    profiles.restart_dhclient(runner, "ns1", tmp_path, "eth0")
    assert not own.exists()
    assert runner.processes[tmp_path / "dhclient-eth0.pid"][-1] == "eth0"
