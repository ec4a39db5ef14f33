"""Where a push's time went: `appliance.phases` and the PUT's Server-Timing header."""

from __future__ import annotations

import time

import pytest
from test_appliance_api import put

from astara.appliance.apply import dhcp
from astara.appliance.apply.errors import CommandFailed, ExitedAtStart, ValidationFailed
from astara.appliance.apply.fakes import FakeDnsmasq
from astara.appliance.phases import Phases, parse_server_timing, server_timing
from astara.appliance.render.dnsmasq import DnsmasqFiles
from astara.wire.examples import router_config, router_document


def test_a_phase_timed_twice_adds_up_and_keeps_its_first_place():
    phases = Phases()
    phases.add("render", 0.002)
    phases.add("nft", 0.010)
    phases.add("render", 0.001)
    assert list(phases.seconds) == ["render", "nft"]
    assert abs(phases.seconds["render"] - 0.003) < 1e-12


def test_server_timing_is_milliseconds_and_reads_back():
    value = server_timing({"parse": 0.0005, "dnsmasq": 0.03125})
    assert value == "parse;dur=0.50, dnsmasq;dur=31.25"
    assert parse_server_timing(value) == {"parse": 0.0005, "dnsmasq": 0.03125}
    assert parse_server_timing('cache;desc="hit", db;dur=2') == {"db": 0.002}


def test_a_full_apply_says_where_its_time_went(appliance):
    dnsmasq = appliance.ports.dnsmasq
    start = dnsmasq.start

    def slow_start(conf, pid_file):  # a dnsmasq slow to write its pid file
        time.sleep(0.02)
        return start(conf, pid_file)
    dnsmasq.start = slow_start
    result = appliance.apply(router_config(1))
    assert result.error is None and result.dhcp == ["start ge2", "start ge3"]
    seconds = result.phases.seconds
    assert {"observe", "render", "sysctl", "netlink", "nft", "dnsmasq", "dnsmasq-check",
            "dnsmasq-start", "record"} <= set(seconds)
    assert seconds["dnsmasq"] >= seconds["dnsmasq-start"] >= 0.04  # both starts
    assert seconds["dnsmasq-check"] < seconds["dnsmasq-start"]  # the sleep is a start's


def test_a_put_answers_with_its_phases_in_server_timing(appliance):
    res = put(appliance, router_document(1))
    assert res.status_code == 200
    phases = parse_server_timing(res.headers["server-timing"])
    assert {"parse", "lock", "queue", "apply", "nft", "dnsmasq", "total"} <= set(phases)
    assert phases["total"] >= phases["apply"] >= phases["nft"] + phases["dnsmasq"]
    again = put(appliance, router_document(1))  # a no-op: no apply phases
    assert "nft" not in parse_server_timing(again.headers["server-timing"])


def test_a_new_dnsmasq_is_started_without_a_separate_check(appliance):
    dnsmasq = appliance.ports.dnsmasq
    first = appliance.apply(router_config(1))
    assert first.dhcp == ["start ge2", "start ge3"] and dnsmasq.checks == []
    assert "dnsmasq-check" in first.phases.seconds  # the files, written unchecked


def test_a_running_dnsmasqs_new_main_file_is_still_checked_first(tmp_path):
    dnsmasq = FakeDnsmasq()
    dhcp.sync(tmp_path, [DnsmasqFiles("ge2", "interface=ge2\n", "", "", "")], dnsmasq)
    conf = tmp_path / "dnsmasq-ge2.conf"
    pid = dnsmasq.running(conf, tmp_path / "dnsmasq-ge2.pid")
    dnsmasq.refuse = "bad-option"
    with pytest.raises(ValidationFailed):
        dhcp.sync(tmp_path, [DnsmasqFiles("ge2", "interface=ge2\nbad-option\n", "", "",
                                          "")], dnsmasq)
    assert dnsmasq.checks and conf.read_text() == "interface=ge2\n"  # the old one kept
    assert dnsmasq.pids == {conf: pid}  # and still serving


def test_a_new_dnsmasq_refusing_its_file_leaves_no_file(appliance):
    dnsmasq = appliance.ports.dnsmasq
    dnsmasq.refuse = "dhcp-range"
    result = appliance.apply(router_config(1))
    assert result.error is not None and "failed to start" in result.error
    assert not list(appliance.state_dir.glob("dnsmasq-*.conf"))
    assert dnsmasq.pids == {}


def test_a_started_dnsmasq_whose_pid_file_came_late_is_still_found_by_its_file(appliance):
    """The start raised after the daemon was up (its pid file not seen in time): its
    file is kept, so the rollback finds and stops that process."""
    dnsmasq = appliance.ports.dnsmasq

    def late(conf, pid_file, outcome):  # the daemon is up (launched)
        raise CommandFailed(f"dnsmasq wrote no pid file {pid_file}")
    dnsmasq.wait = late
    assert appliance.apply(router_config(1)).error
    assert len(dnsmasq.launched) == 2 and dnsmasq.pids == {}


def test_a_routers_dnsmasq_processes_start_side_by_side(appliance):
    """Every new process is begun before the agent waits for the first one."""
    dnsmasq = appliance.ports.dnsmasq
    wait = dnsmasq.wait
    begun_at_wait: list[int] = []

    def waited(conf, pid_file, outcome):
        begun_at_wait.append(len(dnsmasq.launched))
        return wait(conf, pid_file, outcome)
    dnsmasq.wait = waited
    result = appliance.apply(router_config(1))
    assert result.error is None and result.dhcp == ["start ge2", "start ge3"]
    assert begun_at_wait == [2, 2]


def test_a_refused_network_on_a_first_push_leaves_no_dnsmasq_running(appliance):
    """The other network's process, started side by side, is stopped by the rollback,
    and no file of either stays."""
    dnsmasq = appliance.ports.dnsmasq
    dnsmasq.refuse = "interface=ge2"
    result = appliance.apply(router_config(1))
    assert result.error is not None and "failed to start" in result.error
    assert dnsmasq.launched == [appliance.state_dir / "dnsmasq-ge2.conf",
                                appliance.state_dir / "dnsmasq-ge3.conf"]
    assert dnsmasq.pids == {}
    assert not list(appliance.state_dir.glob("dnsmasq-*"))


def test_one_refused_start_is_the_error_and_the_other_is_kept_for_the_rollback(tmp_path):
    """`sync` itself leaves the started one running, found by its file (the push's
    rollback stops it: the test above)."""
    dnsmasq = FakeDnsmasq()
    dnsmasq.refuse = "bad-option"
    with pytest.raises(ExitedAtStart):
        dhcp.sync(tmp_path, [DnsmasqFiles("ge2", "interface=ge2\nbad-option\n", "", "", ""),
                             DnsmasqFiles("ge3", "interface=ge3\n", "", "", "")], dnsmasq)
    assert not (tmp_path / "dnsmasq-ge2.conf").exists()  # refused: its file not taken
    assert dhcp.current_interfaces(tmp_path) == {"ge3"}
    dhcp.stop_all(tmp_path, dnsmasq)
    assert dnsmasq.pids == {}


def two(tmp_path):
    return [DnsmasqFiles("ge2", "interface=ge2\n", "", "", ""),
            DnsmasqFiles("ge3", "interface=ge3\n", "", "", "")]


def test_a_start_that_cannot_begin_still_waits_for_the_others(tmp_path):
    dnsmasq = FakeDnsmasq()
    launch = dnsmasq.launch

    def no_binary(conf, pid_file):
        if conf.name == "dnsmasq-ge2.conf":
            raise FileNotFoundError("dnsmasq")
        return launch(conf, pid_file)
    dnsmasq.launch = no_binary
    with pytest.raises(FileNotFoundError):
        dhcp.sync(tmp_path, two(tmp_path), dnsmasq)
    assert dnsmasq.waited == [tmp_path / "dnsmasq-ge3.conf"]  # begun, then waited for


def test_an_interrupted_wait_still_waits_for_the_others_and_goes_on(tmp_path):
    dnsmasq = FakeDnsmasq()
    wait = dnsmasq.wait

    def interrupted(conf, pid_file, outcome):
        if conf.name == "dnsmasq-ge2.conf":
            raise KeyboardInterrupt
        return wait(conf, pid_file, outcome)
    dnsmasq.wait = interrupted
    dnsmasq.refuse = "interface=ge3"  # an Exception after it: the interrupt still wins
    with pytest.raises(KeyboardInterrupt):
        dhcp.sync(tmp_path, two(tmp_path), dnsmasq)
    assert dnsmasq.waited == [tmp_path / "dnsmasq-ge3.conf"]
    assert not (tmp_path / "dnsmasq-ge3.conf").exists()  # its refusal was handled


def test_files_that_cannot_be_made_private_are_a_failure_after_every_wait(tmp_path,
                                                                          monkeypatch):
    dnsmasq = FakeDnsmasq()
    tighten = dhcp.private.tighten

    def no_chmod(*paths):
        if any(p.name == "dnsmasq-ge2.pid" for p in paths):
            raise PermissionError("chmod")
        return tighten(*paths)
    monkeypatch.setattr(dhcp.private, "tighten", no_chmod)
    with pytest.raises(PermissionError):
        dhcp.sync(tmp_path, two(tmp_path), dnsmasq)
    assert dnsmasq.waited == [tmp_path / "dnsmasq-ge2.conf", tmp_path / "dnsmasq-ge3.conf"]


def test_a_second_failed_start_is_logged(tmp_path, caplog):
    dnsmasq = FakeDnsmasq()
    dnsmasq.refuse = "interface="
    with pytest.raises(ExitedAtStart, match="dnsmasq-ge2.conf"):
        dhcp.sync(tmp_path, two(tmp_path), dnsmasq)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"dnsmasq: another start failed too: dnsmasq failed to start: bad option in "
        f"{tmp_path / 'dnsmasq-ge3.conf'}"]


def test_an_interrupted_launch_still_waits_for_those_begun(tmp_path):
    dnsmasq = FakeDnsmasq()
    launch = dnsmasq.launch

    def interrupted(conf, pid_file):
        if conf.name == "dnsmasq-ge3.conf":
            raise KeyboardInterrupt
        return launch(conf, pid_file)
    dnsmasq.launch = interrupted
    with pytest.raises(KeyboardInterrupt):
        dhcp.sync(tmp_path, two(tmp_path), dnsmasq)
    assert dnsmasq.waited == [tmp_path / "dnsmasq-ge2.conf"]
