"""Cluster takeover benchmark: three orchestrator members on a real etcd
(``tools/etcd-loopback``) and a real database, over the shared in-tree fake cloud
(``tests.cluster_world``: the real cluster layer, worker, reconciler and executor; the
compute service and appliances are the fakes, so boots and pushes are counted, not
performed).

N routers are booted and configured, then for each cycle one member (in turn) is
killed with SIGKILL and restarted. Printed: the takeover time after a kill (from the
kill until every router it held has a live lease with another member; p50/p99 over the
cycles), the time to move its share back after the restart, and the boots and pushes
made during the rebalances (target: 0, every router being healthy).
With ``--rebalance``, a fourth member joins and then leaves (SIGTERM: it releases its
leases) once the routers are converged, before the kill cycles: printed are the time
for ownership to settle on the ring's new split after each, and the boots and pushes
each made (target 0). The cloud being the in-tree fakes, this is the cluster layer's
own cost (ring, leases, adoption), not an appliance's.
Run under the host-wide lock: flock /tmp/astara-functional.lock .venv/bin/python
bench/cluster.py [--routers N] [--cycles N] [--rebalance] [--heartbeat-timeout S]
[--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cluster_world import Cluster  # noqa: E402
from tests.support import wait_for  # noqa: E402

from astara.common.settings import sqlite_url  # noqa: E402
from astara.db import migrate  # noqa: E402
from astara.db.engine import Database  # noqa: E402
from astara.orchestrator.cluster.ring import Ring  # noqa: E402

MEMBERS = ("orch-a", "orch-b", "orch-c")
JOINER = "orch-d"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def settle(c: Cluster, members: tuple[str, ...], timeout: float, since: float) -> float:
    """Seconds from ``since`` until every member holds exactly the ring's share."""
    ring = Ring.of(members)
    wait_for(lambda: all(c.held_by(n) == ring.mine(n, c.ids) for n in members), timeout,
             f"ownership to settle on {list(members)}", every=0.05)
    return time.time() - since


def rebalance(c: Cluster, split: Ring) -> None:
    """A fourth member joins, then leaves: time to settle and the acts of each."""
    timeout = c.timing["heartbeat_timeout"] + 30 + len(c.ids) / 20
    for what, members in (("joins", (*MEMBERS, JOINER)), ("leaves", MEMBERS)):
        steady = time.time()
        if what == "joins":
            c.start(JOINER)
            moved = len(Ring.of(members).mine(JOINER, c.ids))
        else:
            moved = len(c.held_by(JOINER))
            c.stop(JOINER)
        took = settle(c, members, timeout, steady)
        wait_for(c.converged, 30, "every router held and configured")
        made = [x for x in c.cloud.all_acts() if x["t"] >= steady]
        print(f"a member {what} ({len(c.ids)} routers, {moved} change hands): ownership "
              f"settled {took:.2f} s after its start/SIGTERM; boots "
              f"{sum(x['action'] == 'boot' for x in made)}, pushes "
              f"{sum(x['action'] == 'push' for x in made)} (target 0; in-tree fake cloud)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--routers", type=int, default=60)
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument("--rebalance", action="store_true",
                    help="time a fourth member's join and leave first")
    ap.add_argument("--heartbeat-timeout", type=int, default=3)
    ap.add_argument("--heartbeat-interval", type=float, default=0.5)
    ap.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="astara-cluster-bench-") as tmp:
        tmp_path = Path(tmp)
        etcd_dir = tmp_path / "etcd"
        script = ROOT / "tools" / "etcd-loopback"
        etcd_url = subprocess.run([str(script), "start", str(etcd_dir)], check=True,
                                  capture_output=True, text=True).stdout.strip()
        url = a.database_url or sqlite_url(tmp_path)
        db = Database(url)
        migrate.upgrade(db.engine)
        db.dispose()
        (tmp_path / "members").mkdir()
        c = Cluster(a.routers, etcd_url, url, tmp_path / "members",
                    heartbeat_interval=a.heartbeat_interval,
                    heartbeat_timeout=a.heartbeat_timeout)
        try:
            t0 = time.time()
            for name in MEMBERS:
                c.start(name)
            wait_for(c.converged, 60 + a.routers / 10, "every router booted and configured")
            split = Ring.of(MEMBERS)
            wait_for(lambda: all(c.held_by(n) == split.mine(n, c.ids) for n in MEMBERS),
                   30, "the ring's split")
            print(f"{a.routers} routers booted and configured by {len(MEMBERS)} members "
                  f"in {time.time() - t0:.1f} s; shares "
                  f"{[len(c.held_by(n)) for n in MEMBERS]}")
            if a.rebalance:
                rebalance(c, split)
            takeovers, backs, acts_during = [], [], 0
            for cycle in range(a.cycles):
                victim = MEMBERS[cycle % len(MEMBERS)]
                others = [n for n in MEMBERS if n != victim]
                lost = c.held_by(victim)
                steady = time.time()
                killed = c.kill(victim)
                live = {c.owners[n] for n in others}
                done = wait_for(lambda lost=lost, live=live: (
                    lambda h: all(h.get(r) in live for r in lost) and time.time())(
                        c.holders()), a.heartbeat_timeout + 30, "the takeover", every=0.05)
                takeovers.append(done - killed)
                restarted = time.time()
                c.start(victim)
                wait_for(lambda victim=victim: c.held_by(victim) == split.mine(victim, c.ids),
                       a.heartbeat_timeout + 30, "the share back", every=0.05)
                backs.append(time.time() - restarted)
                wait_for(c.converged, 30, "every router held and configured")
                made = [x for x in c.cloud.all_acts() if x["t"] >= steady]
                acts_during += len(made)
                print(f"cycle {cycle + 1}: kill -9 {victim} ({len(lost)} routers): taken "
                      f"over in {takeovers[-1]:.2f} s, back after restart in "
                      f"{backs[-1]:.2f} s, boots+pushes {len(made)}")
            if not takeovers:
                return 0
            print(f"takeover after kill -9 (heartbeat timeout {a.heartbeat_timeout} s, "
                  f"target <= {a.heartbeat_timeout + 2} s): p50 "
                  f"{statistics.median(takeovers):.2f} s, p99 {pct(takeovers, 99):.2f} s "
                  f"over {len(takeovers)} kills")
            print(f"move back after restart: p50 {statistics.median(backs):.2f} s, p99 "
                  f"{pct(backs, 99):.2f} s")
            print(f"boots and pushes during {a.cycles * 2} rebalances of healthy routers: "
                  f"{acts_during} (target 0)")
        finally:
            c.close()
            subprocess.run([str(script), "stop", str(etcd_dir)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
