"""haproxy's `show stat` → listener, pool and member health, on captured output."""

from pathlib import Path

import pytest

from astara.appliance.observe import haproxy
from astara.wire.loadbalancer_config import LoadBalancer

CAPTURED = (Path(__file__).parents[2] / "data" / "haproxy" / "show_stat.csv").read_text()


def _member(n, **kw):
    return {"id": f"member-{n}", "address": "127.0.0.1", "protocol_port": 18090 + n, **kw}


def lb(**kw) -> LoadBalancer:
    doc = {
        "id": "lb", "vip_address": "127.0.0.1",
        "listeners": [
            {"id": "listener-http", "protocol": "HTTP", "protocol_port": 18090,
             "default_pool_id": "pool-http"},
            {"id": "listener-off", "protocol": "TCP", "protocol_port": 18092,
             "default_pool_id": "pool-http", "admin_state_up": False},
        ],
        "pools": [
            {"id": "pool-http", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [_member(1), _member(2), _member(3, admin_state_up=False),
                         _member(4)]},
            {"id": "pool-off", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
             "admin_state_up": False, "members": [_member(5)]},
        ],
        **kw,
    }
    return LoadBalancer.model_validate(doc)


def test_parse_reads_the_header_and_every_row():
    rows = haproxy.parse(CAPTURED)
    assert rows[("listener-http", "FRONTEND")]["status"] == "OPEN"
    assert rows[("pool-http:tcp", "member-1")]["status"] == "UP"
    assert rows[("pool-http:http", "member-4")]["status"] == "no check"
    assert ("listener-off", "FRONTEND") not in rows  # disabled: not listed
    assert haproxy.parse("") == {} and haproxy.parse("Unknown command\n") == {}


def test_captured_output_as_health():
    health = haproxy.health(lb(), CAPTURED)
    listeners = {x.id: x for x in health.listeners}
    assert listeners["listener-http"].operating_status == "ONLINE"
    assert listeners["listener-http"].counters.total_connections == 1
    assert listeners["listener-http"].counters.bytes_out == 744
    assert listeners["listener-off"].operating_status == "OFFLINE"
    pools = {p.id: p for p in health.pools}
    members = {m.id: m.operating_status for m in pools["pool-http"].members}
    # member-1 is UP in the tcp backend but DOWN in the http one: the worse wins
    assert members == {"member-1": "ERROR", "member-2": "ERROR", "member-3": "OFFLINE",
                       "member-4": "NO_MONITOR"}
    assert pools["pool-http"].operating_status == "DEGRADED"
    assert pools["pool-http"].counters.total_connections == 1  # both backends summed
    assert pools["pool-off"].operating_status == "OFFLINE"
    assert [m.operating_status for m in pools["pool-off"].members] == ["OFFLINE"]
    assert health.operating_status == "DEGRADED"


def _stat(*rows: str) -> str:
    return "# pxname,svname,scur,stot,status\n" + "".join(r + "\n" for r in rows)


def test_all_up_is_online_and_all_down_is_error():
    up = _stat("listener-http,FRONTEND,0,0,OPEN",
               *(f"pool-http:http,member-{n},0,0,UP" for n in (1, 2, 4)))
    health = haproxy.health(lb(), up)
    assert health.operating_status == "ONLINE"
    assert health.pools[0].operating_status == "ONLINE"
    down = _stat("listener-http,FRONTEND,0,0,OPEN",
                 *(f"pool-http:http,member-{n},0,0,DOWN" for n in (1, 2, 4)))
    health = haproxy.health(lb(), down)
    assert health.pools[0].operating_status == "ERROR"
    assert health.operating_status == "DEGRADED"  # the listener still answers


def test_no_stats_means_everything_enabled_is_in_error():
    health = haproxy.health(lb(), None)
    assert health.operating_status == "ERROR"
    assert [x.operating_status for x in health.listeners] == ["ERROR", "OFFLINE"]
    assert health.pools[0].operating_status == "ERROR"
    assert health.pools[1].operating_status == "OFFLINE"


def test_admin_down_load_balancer_is_offline():
    health = haproxy.health(lb(admin_state_up=False), CAPTURED)
    assert health.operating_status == "OFFLINE"
    assert {x.operating_status for x in health.listeners} == {"OFFLINE"}


@pytest.mark.parametrize("status,expected", [
    ("UP", "ONLINE"), ("UP 1/3", "ONLINE"), ("NOLB", "ONLINE"), ("DOWN", "ERROR"),
    ("DOWN 1/2", "ERROR"), ("MAINT", "OFFLINE"), ("MAINT(via)", "OFFLINE"),
    ("MAINT (resolution)", "OFFLINE"), ("no check", "NO_MONITOR"), ("DRAIN", "DRAINING"),
    ("DRAIN (agent)", "DRAINING"), ("???", "ERROR"), (None, "ERROR"),
])
def test_member_status(status, expected):
    assert haproxy.member_status(status) == expected


INFO_AND_STAT = (Path(__file__).parents[2] / "data" / "haproxy"
                 / "show_info_and_stat.txt").read_text()


def test_show_info_before_show_stat_names_the_worker_and_keeps_the_rows():
    assert haproxy.epoch(INFO_AND_STAT) == "31198@1796228734"
    rows = haproxy.parse(INFO_AND_STAT)
    assert rows[("listener-a", "FRONTEND")]["status"] == "OPEN"
    assert ("pool-a:tcp", "m1") in rows
    doc = LoadBalancer.model_validate({
        "id": "lb", "vip_address": "127.0.0.1",
        "listeners": [{"id": "listener-a", "protocol": "TCP", "protocol_port": 1,
                       "default_pool_id": "pool-a"}],
        "pools": [{"id": "pool-a", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"id": "m1", "address": "127.0.0.1", "protocol_port": 9}]}]})
    health = haproxy.health(doc, INFO_AND_STAT)
    assert health.stats_epoch == "31198@1796228734"
    assert health.listeners[0].operating_status == "ONLINE"


@pytest.mark.parametrize("text", ["", "Pid: 7\n", "Start_time_sec: 9\n# pxname,svname\n"])
def test_no_epoch_without_both_pid_and_start_time(text):
    assert haproxy.epoch(text) is None


def test_show_stat_alone_has_no_epoch():
    assert haproxy.health(lb(), CAPTURED).stats_epoch is None
    assert haproxy.health(lb(), None).stats_epoch is None
