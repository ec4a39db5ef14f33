"""``[coordination]`` options: defaults keep a single node; bad timings are one line."""

from __future__ import annotations

import pytest

from astara.common.entry import ConfigError
from astara.common.settings import default_conf
from astara.orchestrator import opts
from astara.orchestrator.cluster import settings


def conf(**values):
    c = default_conf(opts.GROUPS)
    for key, value in values.items():
        c.set_override(key, value, group="coordination")
    return c


def test_disabled_by_default_with_the_seed_names():
    s = settings.from_conf(conf())
    assert s.enabled is False
    assert (s.group_id, s.heartbeat_interval, s.heartbeat_timeout) == (
        "astara.orchestrator", 1.0, 10)
    assert s.lease == 10.0


def test_the_tooz_url_carries_the_member_timeout_unless_given():
    s = settings.from_conf(conf(enabled=True, url="etcd3+http://127.0.0.1:2379",
                                heartbeat_timeout=6, heartbeat_interval=0.5))
    assert s.tooz_url() == "etcd3+http://127.0.0.1:2379?timeout=6"
    s = settings.from_conf(conf(enabled=True, url="redis://h:6379?db=2"))
    assert s.tooz_url() == ("redis://h:6379?db=2&timeout=10&socket_timeout=2"
                            "&socket_connect_timeout=2")
    s = settings.from_conf(conf(enabled=True, url="redis:///s.sock?socket_timeout=1"))
    assert s.tooz_url() == "redis:///s.sock?socket_timeout=1&timeout=10&socket_connect_timeout=2"
    s = settings.from_conf(conf(enabled=True, url="zookeeper://h:2181?timeout=4"))
    assert s.tooz_url() == "zookeeper://h:2181?timeout=4"


@pytest.mark.parametrize("values, words", [
    ({"heartbeat_interval": 4.0, "heartbeat_timeout": 10}, "a third of heartbeat_timeout"),
    ({"fence_margin": 6.0, "heartbeat_timeout": 10}, "half of heartbeat_timeout"),
    ({"member_name": ""}, "member_name"),
])
def test_timings_without_room_stop_the_start_with_one_line(values, words):
    with pytest.raises(ConfigError, match=words):
        settings.from_conf(conf(enabled=True, **values))
    settings.from_conf(conf(enabled=False, **values))  # not checked while disabled


def test_zookeeper_is_told_apart_and_its_client_reconnects_within_a_second():
    from astara.orchestrator.cluster import membership

    url = settings.from_conf(conf(enabled=True, url="zookeeper://h:2181",
                                  heartbeat_timeout=6, heartbeat_interval=1.0)).tooz_url()
    assert url == "zookeeper://h:2181?timeout=6"
    assert membership.session_based(url) and membership.member_timeout(url) == 6.0
    retry = membership.driver_options(url)["connection_retry"]
    assert retry["max_tries"] == -1 and retry["max_delay"] <= 1.0
    for other in ("etcd3+http://h:2379?timeout=6", "redis://h:6379?timeout=6"):
        assert not membership.session_based(other)
        assert membership.driver_options(other) == {}
    assert membership.member_timeout("zookeeper://h:2181") == 10.0  # tooz's default
