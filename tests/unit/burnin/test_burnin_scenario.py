"""``astara-burnin``'s scenario and command line: --keep and --run-id."""

from __future__ import annotations

import ipaddress
import signal

import pytest

from astara.burnin import scenario
from astara.burnin.scenario import Options, Scenario, tenant_cidrs
from astara.burnin.steps import KEPT, Step
from astara.cli import burnin as cli

TAKE_DOWN = ("interface removal cuts the network off", "router deletion leaves nothing behind")


class Cloud:
    """Stands for an openstacksdk connection (``.network``, ``.compute``): records every
    call and refuses it, so a step that calls the cloud stops there (and fails)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @property
    def network(self) -> Cloud:
        return self

    @property
    def compute(self) -> Cloud:
        return self

    def __getattr__(self, name: str):
        def call(*args, **kwargs) -> None:
            self.calls.append(name)
            raise RuntimeError(f"{name}: this cloud does nothing")
        return call


def kept_scenario(cloud: Cloud, keep: bool) -> Scenario:
    s = Scenario(Options(run_id="keep1", keep=keep), echo=None, admin=cloud, user=cloud)
    # as after the checks passed: a router with three interfaces, a floating IP, two VMs
    s.made.update(router="r-1", sub1="s-1", sub2="s-2", sub2v6="s-3", fip="f-1",
                  vm1="v-1", vm2="v-2", vm2_ips=["10.1.2.5"], ext_net="e-1")
    return s


def test_keep_runs_no_step_that_takes_the_router_down():
    cloud = Cloud()
    s = kept_scenario(cloud, keep=True)
    s.r.run([step for step in s.steps() if step.name in TAKE_DOWN])
    assert cloud.calls == []
    assert [(st.name, st.status, st.detail) for st in s.report.steps] == \
        [(name, "skipped", KEPT) for name in TAKE_DOWN]
    assert s.kept()["router"] == "r-1"


def test_without_keep_the_same_steps_take_it_down():
    cloud = Cloud()
    s = kept_scenario(cloud, keep=False)
    s.r.run([step for step in s.steps() if step.name in TAKE_DOWN])
    assert cloud.calls == ["remove_interface_from_router"]
    assert [st.status for st in s.report.steps] == ["fail", "skipped"]


def test_a_chosen_run_id_names_the_run():
    s = Scenario(Options(run_id="xyz"), echo=None, admin=Cloud(), user=Cloud())
    assert (s.run_id, s.prefix, s.report.run_id) == ("xyz", "burnin-xyz", "xyz")
    assert s.nets == tenant_cidrs("xyz")


@pytest.mark.parametrize("run_id", ["xyz", "0", "ff", "night-7", "abcdefghijkl"])
def test_every_run_id_gets_valid_tenant_networks(run_id):
    v4a, v4b, v6 = (ipaddress.ip_network(c) for c in tenant_cidrs(run_id))
    assert v4a.prefixlen == v4b.prefixlen == 24 and v6.prefixlen == 64
    assert not v4a.overlaps(v4b)
    assert v4a.subnet_of(ipaddress.ip_network("10.0.0.0/8"))


def test_a_run_id_that_cannot_name_the_run_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--run-id", "XYZ!"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "--run-id" in err and "lower-case letters, digits or dashes" in err
    assert "Traceback" not in err


def test_the_ha_stage_runs_only_with_ha():
    names = [st.name for st in Scenario(Options(run_id="h1"), echo=None, admin=Cloud(),
                                        user=Cloud()).steps()]
    assert not [n for n in names if n.startswith("HA:")]
    s = Scenario(Options(run_id="h2", ha=True), echo=None, admin=Cloud(), user=Cloud())
    names = [st.name for st in s.steps()]
    ha = [n for n in names if n.startswith("HA:")]
    assert len(ha) == 5
    # after the router's checks, before anything takes the router down
    assert names.index(ha[0]) > names.index("metadata through the router")
    assert names.index(ha[-1]) < names.index(TAKE_DOWN[0])


class AnsweringCloud(Cloud):
    """Records every call and answers None (deleted, gone): a cleanup that goes through."""

    def __getattr__(self, name: str):
        def call(*args, **kwargs) -> None:
            self.calls.append(name)
        return call


class Upstream:
    def __init__(self, calls: list[str]) -> None:
        self.calls, self.ns = calls, "bi-up-keep1"

    def close(self) -> None:
        self.calls.append("upstream closed")

    def drop_bridge(self) -> None:
        self.calls.append("upstream bridge dropped")


def test_the_cleanup_removes_the_upstream_before_asking_any_api():
    # a run stopped twice (or killed after Ctrl-C) while the cloud's resources go
    # still took its namespace and server off the host
    cloud = AnsweringCloud()
    s = kept_scenario(cloud, keep=False)
    s.upstream = Upstream(cloud.calls)
    s.run([])
    assert cloud.calls[0] == "upstream closed"
    # the bridge (if it made it) once the router's and instances' ports left it
    assert cloud.calls[-2:] == ["upstream bridge dropped", "delete_network"]


def test_an_upstream_that_cannot_be_closed_does_not_stop_the_cleanup():
    cloud = AnsweringCloud()
    s = kept_scenario(cloud, keep=False)
    s.upstream = Upstream(cloud.calls)

    def broken() -> None:
        raise RuntimeError("ip: cannot delete namespace")

    s.upstream.close = broken
    s.run([])
    assert "delete_router" in cloud.calls and cloud.calls[-1] == "delete_network"


def test_a_run_stopped_mid_step_still_cleans_up():
    cloud = AnsweringCloud()
    s = kept_scenario(cloud, keep=False)
    s.upstream = Upstream(cloud.calls)

    def stopped() -> None:  # SIGTERM arriving during the step
        cli._stopped(signal.SIGTERM, None)

    with pytest.raises(SystemExit) as exit_:
        s.run([Step("a step", stopped)])
    assert exit_.value.code == 128 + signal.SIGTERM
    assert cloud.calls[0] == "upstream closed" and cloud.calls[-1] == "delete_network"


@pytest.mark.parametrize("keep", [False, True])
def test_a_kept_runs_upstream_server_outlives_the_run(monkeypatch, keep):
    opened = []

    class Recording:
        def __init__(self, *args, **kwargs) -> None:
            self.ns = "bi-up-keep1"

        def open(self, watch_parent: bool = True) -> None:
            opened.append(watch_parent)

    monkeypatch.setattr(scenario.host, "Upstream", Recording)
    s = kept_scenario(Cloud(), keep=keep)
    s.upstream_up()
    assert opened == [not keep]
