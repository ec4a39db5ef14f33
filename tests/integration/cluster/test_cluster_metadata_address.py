"""Two orchestrator members with different management addresses (two machines), in the
cluster world (``tests.cluster_world``: a real etcd and database, the real cluster layer
and reconciler, the fake cloud).

With one ``[orchestrator] metadata_address`` shared by both, every appliance's document
is the same whoever owns it: the member left alive after the other is killed adopts its
routers and, at its full looks at them, pushes nothing. Without it, each member's
documents name its own management address, and after the same takeover the full looks
push a new document to every appliance adopted: the contrast that shows the first case
is not zero pushes by accident.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.cluster_world import Cluster
from tests.integration.conftest import fresh_database
from tests.support import wait_for

from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator.cluster.ring import Ring

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).parents[3] / "tools" / "etcd-loopback"
ROUTERS = 24
TIMEOUT = 3  # heartbeat_timeout
MEMBERS = ("orch-a", "orch-b")
MANAGEMENT = {"orch-a": "fdca:3ba5:a17a:acda::a", "orch-b": "fdca:3ba5:a17a:acda::b"}
SHARED = "fdca:3ba5:a17a:acda::53"


@pytest.fixture
def etcd(tmp_path):
    d = tmp_path / "etcd"
    url = subprocess.run([str(SCRIPT), "start", str(d)], check=True, capture_output=True,
                         text=True, timeout=90).stdout.strip()
    yield url
    subprocess.run([str(SCRIPT), "stop", str(d)], check=False, timeout=60)


@pytest.fixture
def cluster(etcd, tmp_path):
    url = fresh_database(tmp_path)
    db = Database(url)
    migrate.upgrade(db.engine)
    db.dispose()
    logs = tmp_path / "members"
    logs.mkdir()
    c = Cluster(ROUTERS, etcd, url, logs, heartbeat_timeout=TIMEOUT)
    yield c
    c.close()


def take_over(c: Cluster, metadata_address: str) -> tuple[set[str], float]:
    """Start both members, kill orch-b once converged, wait until orch-a has adopted
    its routers (its tenure recorded on each appliance): (those routers, kill time)."""
    for name in MEMBERS:
        c.start(name, {"management_address": MANAGEMENT[name],
                       "metadata_address": metadata_address})
    wait_for(c.converged, 60, "every router booted and configured once")
    wait_for(lambda: all(c.held_by(n) == Ring.of(MEMBERS).mine(n, c.ids) for n in MEMBERS),
             30, "the ring's split")
    lost = c.held_by("orch-b")
    assert lost and len(lost) < ROUTERS
    killed_at = c.kill("orch-b")
    survivor = c.owners["orch-a"]
    wait_for(lambda: all(c.cloud.tenure_owners().get(r) == survivor for r in lost),
             TIMEOUT + 20, "orch-a's tenure on every appliance it adopted")
    return lost, killed_at


def full_look(c: Cluster, routers: set[str]) -> None:
    """A notification for each router, and its full look done: the second of two
    (a key is handled by one pass at a time, so the first has ended, push and all)."""
    for _ in range(2):
        before = c.cloud.model_reads()
        for r in routers:
            c.cloud.touch(r)
        wait_for(lambda before=before: all(c.cloud.model_reads().get(r, 0) > before.get(r, 0)
                                           for r in routers), 20, "a full look at each router")


def acts_since(c: Cluster, t: float) -> list[dict]:
    return [a for a in c.cloud.all_acts()
            if a["t"] >= t and a["action"] in ("push", "boot", "delete")]


def test_a_shared_metadata_address_takes_over_without_a_push(cluster):
    c = cluster
    lost, killed_at = take_over(c, SHARED)
    full_look(c, lost)
    assert acts_since(c, killed_at) == []
    assert c.cloud.orchestrator_addresses() == {SHARED}


def test_without_it_the_same_takeover_pushes_every_adopted_appliance(cluster):
    c = cluster
    lost, killed_at = take_over(c, "")
    assert c.cloud.orchestrator_addresses() == set(MANAGEMENT.values())
    full_look(c, lost)
    acts = acts_since(c, killed_at)
    assert sorted(a["router"] for a in acts) == sorted(lost)
    assert {(a["action"], a["member"]) for a in acts} == {("push", "orch-a")}
    assert c.cloud.orchestrator_addresses() == {MANAGEMENT["orch-a"]}
