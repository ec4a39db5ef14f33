"""The CheckBoot wait: from an appliance's agent starting to answer to the orchestrator's
first successful status call about it (in-process, against the in-tree fakes).

One worker (the real ``Worker`` and dirty-key queue, ``num_worker_threads`` passes at
once) holds ``--routers`` healthy routers, health-checked once a minute as in
production, and boots ``--samples`` new routers one after another: the create event,
``--boot-ms`` later the compute notification's pass (the instance ACTIVE, its agent
not answering yet), then the agent answers ``0..--late`` ms later (uniform, seeded). Printed: the
p50/p90 wait from the agent's first possible answer to the orchestrator's first
answered status call, and the remote calls about the new router made meanwhile. The fakes
answer at once unless ``--call-ms`` (each model read, instance lookup and status
call then sleeps that long in its thread, as a remote call waits).
Usage: bench/checkboot.py [--routers N] [--samples N] [--boot-ms MS] [--late MS]
                          [--call-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import statistics
import time
from collections.abc import Callable

from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.orchestrator.worker.pool import Worker
from orchestrator_passes import World, model


def slowed(fn: Callable, seconds: float) -> Callable:
    @functools.wraps(fn)
    def call(*args, **kwargs):
        time.sleep(seconds)
        return fn(*args, **kwargs)

    return call


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("timed out: the boot did not go as expected")
        await asyncio.sleep(0.0005)


def mine(w: World, rid: str, address: str) -> int:
    """The remote calls made so far about one router (its id or its address)."""
    return sum(1 for c in (*w.network.calls, *w.compute.calls, *w.appliances.calls)
               if rid in c or address in c)


async def boot(w: World, worker: Worker, rec: Reconciler, rid: str, booting: float,
               late: float, answered: dict[str, float]) -> tuple[float, int]:
    """One new router's boot; (the wait, the calls about it during the wait)."""
    ref = ResourceRef("router", rid, "tenant")
    w.network.models[rid] = model(rid)
    worker.submit(ref)  # router.create.end
    await until(lambda: rid in w.network.mgmt_ports
                and any(s.router_id == rid for s in w.compute.servers.values()))
    port = w.network.mgmt_ports[rid]
    address = port["fixed_ips"][0]["ip_address"]
    w.appliances.mute.add(address)  # the agent does not serve its namespace yet
    w.network.models[rid].ports.append(
        dict(port, device_owner="network:astara_management", network_id="mgmt"))
    w.appliances.mgmt_of[address] = rid
    await asyncio.sleep(booting)  # the compute service's part of the boot
    worker.submit(ref)  # compute.instance.create.end: the instance is ACTIVE
    st = rec.state(ref)
    await until(lambda: st.memory.active_since is not None)
    before = mine(w, rid, address)
    await asyncio.sleep(late)
    served = time.monotonic()
    w.appliances.mute.discard(address)
    await until(lambda: address in answered)
    wait, calls = answered[address] - served, mine(w, rid, address) - before
    await until(lambda: st.steps[-1].step == "Alive")
    return wait, calls


async def run(w: World, worker: Worker, rec: Reconciler, a: argparse.Namespace
              ) -> tuple[list[float], list[int]]:
    rng = random.Random(a.seed)
    waits, calls = [], []
    answered: dict[str, float] = {}
    status = w.appliances.status

    def noting(address: str, appliance_id: str):
        app = status(address, appliance_id)
        if app.reachable:
            answered.setdefault(address, time.monotonic())
        return app

    w.appliances.status = noting  # type: ignore[method-assign]
    for i in range(a.samples):
        wait, n = await boot(w, worker, rec, f"new-{i:05d}", a.boot_ms / 1000,
                             rng.uniform(0, a.late / 1000), answered)
        waits.append(wait)
        calls.append(n)
    return waits, calls


async def main_async(a: argparse.Namespace) -> None:
    w = World(a.routers)
    w.compute.boot_polls = 0  # ACTIVE at the first look after its boot
    rec = w.reconciler()
    for ref in w.refs:
        w.settle(rec, ref)
    if a.call_ms:
        pause = a.call_ms / 1000
        w.network.router_model = slowed(w.network.router_model, pause)  # type: ignore
        w.compute.find = slowed(w.compute.find, pause)  # type: ignore[method-assign]
        w.appliances.status = slowed(w.appliances.status, pause)  # type: ignore
    worker = Worker(rec.run, concurrency=8)
    period = rec.settings.health_check_period
    for i, ref in enumerate(w.refs):  # their health checks spread over the period
        worker.submit(ref, full=False, delay=period * i / max(1, len(w.refs)))
    stop = asyncio.Event()
    serving = asyncio.ensure_future(worker.serve(stop))
    try:
        waits, calls = await run(w, worker, rec, a)
    finally:
        stop.set()
        await serving
    ms = sorted(x * 1000 for x in waits)
    print(f"{a.routers} routers health-checked, {a.samples} boots ({a.boot_ms:.0f} ms to "
          f"ACTIVE), agent answering 0..{a.late:.0f} ms after the ACTIVE pass, "
          f"{a.call_ms:.0f} ms per remote call")
    print(f"  agent answers -> orchestrator's first answered status call: "
          f"p50 {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9)]:.1f} ms")
    print(f"  remote calls per boot while it waited: p50 {statistics.median(calls):.0f}, "
          f"max {max(calls)} (about the new router only)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routers", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--late", type=float, default=100.0, help="ms, the agent's delay")
    ap.add_argument("--call-ms", type=float, default=0.0)
    ap.add_argument("--boot-ms", type=float, default=290.0,
                    help="from CreateVM to the ACTIVE notification (e2e, 1,010 routers)")
    ap.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
