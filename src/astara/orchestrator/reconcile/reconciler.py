"""One reconcile pass for one router: observe -> plan -> execute -> outcome.

``Reconciler.run(ref, full)`` is what a worker calls for a key. ``full=False``
(a health check) tries the one-call health observation first. Debug mode
(router, tenant or global) is honoured before anything else is looked at.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.memory import RouterState, StepRecord
from astara.orchestrator.reconcile.model import Decision, Observed, Outcome, Settings
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.plan import plan


class Reconciler:
    def __init__(self, observer: Observer, executor: Executor, settings: Settings,
                 is_debug: Callable[[ResourceRef], bool] = lambda ref: False,
                 clock: Callable[[], float] = time.time):
        self.observer, self.executor, self.settings = observer, executor, settings
        self.is_debug, self.clock = is_debug, clock
        self.states: dict[str, RouterState] = {}

    def state(self, ref: ResourceRef) -> RouterState:
        st = self.states.get(ref.id)
        if st is None:
            st = self.states[ref.id] = RouterState(tenant_id=ref.tenant_id)
        return st

    def decide(self, ref: ResourceRef, full: bool = True) -> tuple[Observed, Decision]:
        st = self.state(ref)
        now = self.clock()
        debug = self.is_debug(ref)
        observed = None
        if debug:
            observed = Observed(exists=True, debug=True, memory=st.memory, now=now)
        elif not full:
            observed = self.observer.health(st, now, debug)
        if observed is None:
            observed = self.observer.full(ref, st, now, debug)
        return observed, plan(observed, self.settings)

    def run(self, ref: ResourceRef, full: bool = True) -> Outcome:
        observed, decision = self.decide(ref, full)
        st = self.state(ref)
        if observed.debug:
            st.steps.append(StepRecord(self.clock(), str(decision.step), str(decision.status),
                                       decision.reason, str(decision.outcome.kind), 0.0))
            return decision.outcome
        outcome = self.executor.execute(decision, ref, st, self.clock())
        if outcome.kind == "terminal":
            self.states.pop(ref.id, None)
        return outcome

    def routers_serving_floating_ip(self, address: str | None, tenant_id: str) -> list[str]:
        return sorted(rid for rid, st in self.states.items()
                      if st.tenant_id == tenant_id and address in st.context.floating_ips)
