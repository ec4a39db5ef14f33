"""Orchestrator restart benchmark (in-process, the in-tree fakes, a real state store).

N healthy routers are converged by a reconciler that keeps its state in a SQLite
state store (``orch_router_state``), then a new reconciler stands for the restarted
worker: it reads the store (one query), is handed every router the network API
lists (one call), and health-checks each. Printed: the orchestrator's time and CPU
until every router is seen Alive again, the remote calls and pushes that took, next
to the targets (<= 10 s, 0 pushes), and the same for a first pass that looks at
everything (what a restart did before: model, instance and status per router).
The fakes answer instantly: this is the orchestrator's own share of a restart (the
real-stack kill test is ``bench/orchestrator_e2e.py``).
Usage: bench/orchestrator_restart.py [--routers N] [--calls N]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from astara.common.settings import sqlite_url
from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator.state_store import RouterStateStore
from orchestrator_idle import status_call_cpu
from orchestrator_passes import World


def restart(w: World, store: RouterStateStore, full: bool) -> tuple[float, float, int, int]:
    """(wall s, CPU s, remote calls, pushes) until every router is Alive again."""
    gc.collect()
    calls, pushes = w.calls(), w.pushes()
    t0, cpu0 = time.perf_counter(), time.process_time()
    rec = w.reconciler(store)
    if not full:  # before, each router's first pass read its own row
        rec.preload(store.load_all())
    refs = w.network.routers()
    for ref in refs:
        rec.run(ref, full)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    alive = sum(1 for ref in refs if rec.state(ref).steps[-1].step == "Alive")
    if alive != len(refs):
        raise SystemExit(f"only {alive} of {len(refs)} routers Alive after the restart")
    return wall, cpu, w.calls() - calls, w.pushes() - pushes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routers", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=1000, help="status calls timed")
    a = ap.parse_args()
    n = a.routers
    resumed_cpu = 0.0
    with tempfile.TemporaryDirectory(prefix="astara-bench-") as tmp:
        db = Database(sqlite_url(Path(tmp)))
        migrate.upgrade(db.engine)
        store = RouterStateStore(db)
        w = World(n)
        rec = w.reconciler(store)
        for ref in w.refs:
            w.settle(rec, ref)
        print(f"{n} healthy routers, orchestrator restarted (fakes answer instantly; "
              "orchestrator CPU only)")
        for full, label in ((False, "resumed from the store"),
                            (True, "full look (as before)")):
            wall, cpu, calls, pushes = restart(w, store, full)
            print(f"first pass {label:>22}: all {n} Alive after {wall:.2f} s "
                  f"(target <= 10 s), CPU {cpu:.2f} s ({cpu / n * 1000:.2f} ms per router), "
                  f"{calls} remote calls ({calls / n:.2f} per router), "
                  f"{pushes} pushes (target 0)")
            if not full:
                resumed_cpu = cpu
        db.dispose()
    call = status_call_cpu(a.calls)
    print(f"resumed, with each status call through the real client ({call * 1000:.2f} ms CPU "
          f"each, a local status server): {resumed_cpu + n * call:.2f} s orchestrator CPU "
          f"for {n} routers (spread over the worker processes)")


if __name__ == "__main__":
    main()
