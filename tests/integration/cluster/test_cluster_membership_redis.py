"""The cluster membership layer (tooz) on a real Redis by URL alone
(``tools/redis-loopback``: Debian's redis-server on a unix socket): join with
capabilities, heartbeat, leave, a silent member's death seen by the others, and an
outage raised as ``CoordinationDown`` (the same shape as the etcd tests), also when
Redis hangs (SIGSTOP: within the lease, by the socket timeout ``tooz_url`` sets); and
``tools/redis-loopback`` signals and removes only what it started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from astara.orchestrator.cluster.membership import CoordinationDown, ToozMembership
from astara.orchestrator.cluster.settings import CoordinationSettings

SCRIPT = Path(__file__).parents[3] / "tools" / "redis-loopback"
TIMEOUT = 2  # seconds a member lives without a heartbeat


@pytest.fixture
def redis_url(tmp_path):
    d = tmp_path / "redis"
    url = subprocess.run([str(SCRIPT), "start", str(d)], check=True, capture_output=True,
                         text=True, timeout=90).stdout.strip()
    yield d, CoordinationSettings(
        enabled=True, url=url, group_id="astara-test", heartbeat_interval=0.5,
        heartbeat_timeout=TIMEOUT, fence_margin=0.5, member_name="orch-a",
        rpc_url="").tooz_url()
    subprocess.run([str(SCRIPT), "stop", str(d)], check=False, timeout=60)


def _until(member: ToozMembership, wanted: set[str], limit: float) -> float:
    """Beat ``member`` every 0.2 s until the group is ``wanted``: the seconds it took."""
    start = time.monotonic()
    while True:
        seen = set(member.beat())
        if seen == wanted:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            raise AssertionError(f"group is {sorted(seen)}, not {sorted(wanted)}")
        time.sleep(0.2)  # the heartbeat's own pace


def test_join_beat_leave_and_death(redis_url):
    _, url = redis_url
    a = ToozMembership(url, "astara-test", "orch-a", {"owner": "a"})
    b = ToozMembership(url, "astara-test", "orch-b", {"owner": "b"})
    c = ToozMembership(url, "astara-test", "orch-c", {"owner": "c"})
    try:
        assert a.beat() == {"orch-a": {"owner": "a"}}
        assert b.beat() == {"orch-a": {"owner": "a"}, "orch-b": {"owner": "b"}}
        # beating past the timeout keeps both
        for _ in range(int(TIMEOUT / 0.2) + 3):
            assert set(a.beat()) == set(b.beat()) == {"orch-a", "orch-b"}
            time.sleep(0.2)
        b.leave()
        assert set(a.beat()) == {"orch-a"}  # a leave is seen at once
        assert set(c.beat()) == {"orch-a", "orch-c"}
        # c goes silent (a kill -9): a no longer sees it after the timeout
        took = _until(a, {"orch-a"}, TIMEOUT + 5)
        assert took <= TIMEOUT + 2, took
    finally:
        a.leave()
        c.leave()


def test_an_outage_is_coordination_down(redis_url):
    d, url = redis_url
    a = ToozMembership(url, "astara-test", "orch-a", {})
    try:
        assert set(a.beat()) == {"orch-a"}
        subprocess.run([str(SCRIPT), "kill", str(d)], check=True, timeout=30)
        start = time.monotonic()
        with pytest.raises(CoordinationDown):
            a.beat()
        # at once, not after retries with back-off (redis-py 6+ took ~60 s under tooz)
        assert time.monotonic() - start < TIMEOUT
    finally:
        a.leave()


def test_a_hung_redis_is_coordination_down_within_the_lease(redis_url):
    d, url = redis_url
    pid = int((d / "redis.pid").read_text())
    a = ToozMembership(url, "astara-test", "orch-a", {})
    try:
        assert set(a.beat()) == {"orch-a"}
        os.kill(pid, signal.SIGSTOP)
        start = time.monotonic()
        with pytest.raises(CoordinationDown):
            a.beat()
        took = time.monotonic() - start
        assert took < TIMEOUT, took  # one socket timeout (TIMEOUT / 5), not several
        os.kill(pid, signal.SIGCONT)
        assert set(a.beat()) == {"orch-a"}  # back with it
        os.kill(pid, signal.SIGSTOP)  # stopped again: ``stop`` ends it in bounded time
        start = time.monotonic()
        subprocess.run([str(SCRIPT), "stop", str(d)], check=True, timeout=60)
        assert time.monotonic() - start < 15 and not d.exists()
    finally:
        if d.exists():
            os.kill(pid, signal.SIGCONT)
        a.leave()


def test_stop_leaves_what_it_did_not_start(tmp_path):
    d = tmp_path / "not-ours"
    d.mkdir()
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (d / "redis.pid").write_text(f"{stranger.pid}\n")  # a PID reused by another
        subprocess.run([str(SCRIPT), "stop", str(d)], check=True, timeout=30)
        subprocess.run([str(SCRIPT), "kill", str(d)], check=True, timeout=30)
        assert stranger.poll() is None and d.is_dir()  # not signalled, not removed
    finally:
        stranger.kill()
        stranger.wait()
