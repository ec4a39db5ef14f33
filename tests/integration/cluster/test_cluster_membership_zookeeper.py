"""The cluster layer on a real ZooKeeper by URL alone (``tools/zk-loopback``: Debian's
zookeeper on 127.0.0.1), through the code the orchestrator runs (``ToozMembership``
and ``Ownership`` over real lease rows): join with capabilities, heartbeat, leave, a
killed member's death seen by the others, a stuck heartbeat loop leaving the group
(our session watchdog), the ring sharing the resources, ZooKeeper killed seen as
``CoordinationDown`` at once and acting stopped one lease later, its restart
rebuilding the ring; the management network's lock; and ``tools/zk-loopback``
refusing a port in use and signalling only what it started."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from tests.integration.conftest import fresh_database
from tests.support import wait_for

from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator.cluster.leases import Leases, MemberBoard
from astara.orchestrator.cluster.membership import CoordinationDown, ToozMembership
from astara.orchestrator.cluster.ownership import Ownership
from astara.orchestrator.cluster.ring import Ring
from astara.orchestrator.cluster.settings import CoordinationSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[3]
SCRIPT = ROOT / "tools" / "zk-loopback"
TIMEOUT = 2  # heartbeat_timeout: the ZooKeeper session's and the leases' length
INTERVAL = 0.5  # heartbeat_interval
IDS = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(30)]


@pytest.fixture(scope="module")
def zk(tmp_path_factory):
    d = tmp_path_factory.mktemp("zk") / "zk"
    url = subprocess.run([str(SCRIPT), "start", str(d)], check=True, capture_output=True,
                         text=True, timeout=90).stdout.strip()
    assert url.startswith("zookeeper://127.0.0.1:")
    yield d, url
    subprocess.run([str(SCRIPT), "stop", str(d)], check=False, timeout=60)


@pytest.fixture
def group() -> str:
    return f"astara-test-{uuid.uuid4().hex[:8]}"  # tests share the server, not a group


def settings(url: str, name: str) -> CoordinationSettings:
    return CoordinationSettings(enabled=True, url=url, group_id="g",
                                heartbeat_interval=INTERVAL, heartbeat_timeout=TIMEOUT,
                                fence_margin=0.5, member_name=name, rpc_url="")


def member(url: str, group: str, name: str) -> ToozMembership:
    return ToozMembership(settings(url, name).tooz_url(), group, name, {"owner": name})


def member_url(url: str) -> str:
    return settings(url, "x").tooz_url()


def until(check, limit: float, what: str) -> float:
    """Call ``check`` at the heartbeat's pace until it is true: the seconds it took."""
    start = time.monotonic()
    wait_for(check, limit, what, every=INTERVAL)
    return time.monotonic() - start


def test_join_beat_leave_and_a_killed_member(zk, group):
    _, url = zk
    a, b = member(url, group, "orch-a"), member(url, group, "orch-b")
    # orch-c in a process of its own, killed with SIGKILL below
    c = subprocess.Popen(
        [sys.executable, "-c", f"""
import sys, time
from astara.orchestrator.cluster.membership import ToozMembership
m = ToozMembership({member_url(url)!r}, {group!r}, "orch-c", {{"owner": "orch-c"}})
m.beat()
print("joined", flush=True)
while True:
    time.sleep({INTERVAL})
    m.beat()
"""], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert c.stdout is not None and c.stdout.readline().strip() == "joined"
        caps = {n: {"owner": n} for n in ("orch-a", "orch-b", "orch-c")}
        assert a.beat() == {n: caps[n] for n in ("orch-a", "orch-c")}
        assert b.beat() == caps
        for _ in range(int(TIMEOUT / INTERVAL) + 2):  # beating past the timeout keeps all
            assert set(a.beat()) == set(b.beat()) == set(caps)
            time.sleep(INTERVAL)
        b.leave()
        assert set(a.beat()) == {"orch-a", "orch-c"}  # a leave is seen at once
        c.send_signal(signal.SIGKILL)
        c.wait()
        took = until(lambda: set(a.beat()) == {"orch-a"}, TIMEOUT + 5, "orch-c gone")
        print(f"killed member gone after {took:.2f} s")
        # its session's timeout, and ZooKeeper's expiry tick (0.5 s)
        assert took <= TIMEOUT + 1.5, took
    finally:
        c.kill()
        c.wait()
        a.leave()


def test_a_stuck_heartbeat_loop_leaves_the_group(zk, group):
    """kazoo keeps the session alive on its own thread: without our watchdog a member
    whose beats stopped would stay in the group for good."""
    _, url = zk
    a, b = member(url, group, "orch-a"), member(url, group, "orch-b")
    try:
        a.beat()
        assert set(b.beat()) == {"orch-a", "orch-b"}
        stuck = time.monotonic()  # a beats no more from here
        until(lambda: set(b.beat()) == {"orch-b"}, TIMEOUT + 5, "orch-a gone")
        took = time.monotonic() - stuck
        print(f"stuck member gone after {took:.2f} s")
        # the timeout, then at most a quarter of it for the watchdog to look
        assert TIMEOUT <= took <= TIMEOUT * 1.25 + 1.5, took
        assert set(a.beat()) == {"orch-a", "orch-b"}  # its next beat joins again
        assert set(b.beat()) == {"orch-a", "orch-b"}
    finally:
        a.leave()
        b.leave()


@pytest.fixture
def database(tmp_path):
    db = Database(fresh_database(tmp_path))
    migrate.upgrade(db.engine)
    yield db
    db.dispose()


def ownership(db: Database, url: str, group: str, name: str) -> Ownership:
    s = settings(url, name)
    m = ToozMembership(s.tooz_url(), group, name, {"owner": f"{name}/1"})
    return Ownership(s, m, Leases(db, f"{name}/1", s.lease, s.fence_margin),
                     MemberBoard(db), f"http://{name}")


def shared(members: list[Ownership]) -> bool:
    """Every member sees all, and holds exactly the ring's share of ``IDS``."""
    names = {o.name for o in members}
    for o in members:
        o.tick(IDS)
    return all(set(o.members) == names and set(o.held) == Ring.of(names).mine(o.name, IDS)
               for o in members)


def test_the_ring_shares_the_resources_and_survives_a_zookeeper_restart(zk, group,
                                                                        database):
    d, url = zk
    a, b = (ownership(database, url, group, n) for n in ("orch-a", "orch-b"))
    try:
        until(lambda: shared([a, b]), 10, "the ring's split")
        assert set(a.held).isdisjoint(b.held) and set(a.held) | set(b.held) == set(IDS)
        assert a.held and b.held

        subprocess.run([str(SCRIPT), "kill", str(d)], check=True, timeout=30)
        start = time.monotonic()
        a.tick(IDS)  # the next heartbeat: down at once, not after a session timeout
        took = time.monotonic() - start
        print(f"ZooKeeper killed: down after {took:.3f} s")
        assert took < 1, took
        assert a.status()["coordination"].startswith("down")
        # served for at most one lease after the last answer, then nothing
        last_ok = a.last_ok
        assert last_ok is not None
        until(lambda: (a.tick(IDS), not a.held)[1], TIMEOUT + 2, "acting stopped")
        assert a.status()["acting"] is False
        print(f"acting stopped {time.time() - last_ok:.2f} s after the last answer")
        assert time.time() - last_ok >= TIMEOUT  # not before the lease ended

        subprocess.run([str(SCRIPT), "start", str(d)], check=True, capture_output=True,
                       timeout=90)
        back = time.monotonic()
        until(lambda: shared([a, b]), 15, "the ring rebuilt")
        took = time.monotonic() - back
        print(f"ZooKeeper started again: ring rebuilt after {took:.2f} s")
        assert took <= TIMEOUT + 3, took
        assert a.status()["acting"] is True and a.status()["coordination"] == "ok"
    finally:
        for o in (a, b):
            o.membership.leave()


def test_the_management_network_lock(zk, group):
    _, url = zk
    a, b = member(url, group, "orch-a"), member(url, group, "orch-b")
    try:
        with a.lock("astara-management-network", 5) as held:
            assert held
            start = time.monotonic()
            with b.lock("astara-management-network", 0.5) as other:
                assert other is False  # held elsewhere: not given within its timeout
            assert 0.4 <= time.monotonic() - start < 3
        with b.lock("astara-management-network", 5) as held:
            assert held  # released by a
    finally:
        a.leave()
        b.leave()


def test_an_outage_before_the_first_beat_is_coordination_down(tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = member(f"zookeeper://127.0.0.1:{port}", "g", "orch-a")
    start = time.monotonic()
    with pytest.raises(CoordinationDown):
        m.beat()
    assert time.monotonic() - start <= TIMEOUT + 1  # kazoo's start, bounded by the timeout
    m.leave()


def test_start_refuses_a_port_in_use_and_stop_leaves_what_it_did_not_start(tmp_path):
    d = tmp_path / "zk"
    d.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        (d / "port").write_text(f"{s.getsockname()[1]}\n")
        r = subprocess.run([str(SCRIPT), "start", str(d)], capture_output=True, text=True,
                           timeout=30)
    assert r.returncode != 0 and "in use" in r.stderr
    assert not (d / "zk.pid").exists()  # nothing started
    other = tmp_path / "not-ours"
    other.mkdir()
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (other / "zk.pid").write_text(f"{stranger.pid}\n")  # a PID reused by another
        subprocess.run([str(SCRIPT), "stop", str(other)], check=True, timeout=30)
        subprocess.run([str(SCRIPT), "kill", str(other)], check=True, timeout=30)
        assert stranger.poll() is None and other.is_dir()  # not signalled, not removed
    finally:
        stranger.kill()
        stranger.wait()
