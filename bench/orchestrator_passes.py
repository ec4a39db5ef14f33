"""Orchestrator benchmark (in-process, against the in-tree fakes of the three APIs).

Prints, for a router built from the real Neutron captures:
  * remote calls per config push (a network change: full pass that pushes) and per
    health check (a healthy router's periodic pass) — the Astara reference made
    about 16 and 7; the targets are at most 4 and 1;
  * orchestrator CPU per config push and per health check (observe + plan + build
    the document + execute, fakes answering instantly), over N routers.
Usage: bench/orchestrator_passes.py [--routers N]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import gc
import json
import time
from pathlib import Path

from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler, StateStore

API = Path(__file__).parents[1] / "tests" / "data" / "neutron" / "api"


@functools.cache
def load(name: str) -> dict:
    return json.loads((API / name).read_text())


def model(router_id: str) -> RouterModel:
    # Read-only parts (subnets, networks, the tenant port) are shared between routers:
    # the fakes stand for other processes, their memory is not the orchestrator's.
    router = dict(load("router_admin.json")["router"], id=router_id)
    ports = [dict(p, device_id=router_id, id=f"{p['id'][:30]}-{router_id[-5:]}")
             for p in load("ports_device_id_router_as_admin.json")["ports"]]
    fips = [dict(f, router_id=router_id) for f in load("floatingips.json")["floatingips"]]
    return RouterModel(router, ports, {s["id"]: s for s in load("subnets.json")["subnets"]},
                       {n["id"]: n for n in load("networks_as_admin.json")["networks"]},
                       fips, [load("port_vm.json")["port"]], fingerprint=f"{router_id}:1")


class World:
    """The three fakes with ``n`` routers in the network model, and a way to converge them."""

    def __init__(self, n: int):
        self.network = FakeNetwork()
        self.compute = FakeCompute()
        self.appliances = FakeAppliances(self.compute)
        self.refs = [ResourceRef("router", f"router-{i:05d}", "tenant") for i in range(n)]
        for ref in self.refs:
            self.network.models[ref.id] = model(ref.id)

    def reconciler(self, store: StateStore | None = None) -> Reconciler:
        return Reconciler(
            Observer(self.network, self.compute, self.appliances, management_defaults()),
            Executor(self.network, self.compute, self.appliances), plan_defaults(),
            store=store)

    def calls(self) -> int:
        return len(self.network.calls) + len(self.compute.calls) + len(self.appliances.calls)

    def pushes(self) -> int:
        return sum(1 for c in self.appliances.calls if c[0] == "push")

    def settle(self, rec: Reconciler, ref: ResourceRef) -> None:
        network, appliances = self.network, self.appliances
        for _ in range(10):
            rec.run(ref)
            port = network.mgmt_ports.get(ref.id)
            if port:
                m = network.models[ref.id]
                if not any(p["id"] == port["id"] for p in m.ports):
                    m.ports.append(dict(port, device_owner="network:astara_management",
                                        network_id="mgmt"))
                appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = ref.id
            if rec.state(ref).steps[-1].step == "Alive":
                return
        raise SystemExit(f"{ref.id} did not converge")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routers", type=int, default=200)
    n = ap.parse_args().routers
    w = World(n)
    rec = w.reconciler()
    refs = w.refs
    for ref in refs:
        w.settle(rec, ref)
    # A change on every router (a floating IP moves): one full pass each, with a push.
    for ref in refs:
        fips = w.network.models[ref.id].floating_ips
        fips[0] = dict(copy.deepcopy(fips[0]), fixed_ip_address="10.0.0.154")
        # As the network client's fingerprint does (a hash of the answer): it changed.
        w.network.models[ref.id] = dataclasses.replace(w.network.models[ref.id],
                                                       fingerprint=f"{ref.id}:2")
    # Each phase starts with a clean collector: the set-up's garbage is not the phase's.
    gc.collect()
    before, cpu0 = w.calls(), time.process_time()
    for ref in refs:
        rec.run(ref, full=True)
    push_cpu = (time.process_time() - cpu0) / n
    push_calls = (w.calls() - before) / n
    pushes = w.pushes()
    gc.collect()
    before, cpu0 = w.calls(), time.process_time()
    for ref in refs:
        rec.run(ref, full=False)
    health_cpu = (time.process_time() - cpu0) / n
    health_calls = (w.calls() - before) / n
    # A full look at routers whose model did not change (another router's event, the
    # look after a restart): the document built last time is kept.
    gc.collect()
    before, cpu0 = w.calls(), time.process_time()
    for ref in refs:
        rec.run(ref, full=True)
    same_cpu = (time.process_time() - cpu0) / n
    same_calls = (w.calls() - before) / n
    if w.pushes() != pushes:
        raise SystemExit("an unchanged router was pushed")
    print(f"{n} routers (fakes answer instantly; {pushes} pushes in all)")
    print(f"config push : {push_calls:.1f} remote calls (target <= 4), "
          f"{push_cpu * 1000:.2f} ms CPU")
    print(f"health check: {health_calls:.1f} remote calls (target <= 1), "
          f"{health_cpu * 1000:.3f} ms CPU (target <= 0.05 ms)")
    print(f"full look, model unchanged: {same_calls:.1f} remote calls, "
          f"{same_cpu * 1000:.3f} ms CPU (the document is not built again)")


if __name__ == "__main__":
    main()
