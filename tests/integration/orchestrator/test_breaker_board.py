"""The rebuild breaker's board across processes, as the orchestrator shares it: made by
the parent, handed to each worker process at spawn, read and written by all of them."""

from __future__ import annotations

import multiprocessing
import threading

from astara.orchestrator import breaker_board
from astara.orchestrator.breaker_board import BreakerBoard
from astara.orchestrator.reconcile.breaker import BreakerSettings, Suspicion
from astara.orchestrator.reconcile.model import (
    Decision,
    Memory,
    Outcome,
    OutcomeKind,
    Rebuild,
    Status,
    Step,
)

S = BreakerSettings(failure_share=0.5, min_samples=2, budget_share=0.1, budget_min=1,
                    window=300)
NOW = 50_000.0
REBUILD = Decision(Step.STOP_VM, Status.RESTART, Outcome(OutcomeKind.REQUEUE, 1),
                   "appliance stopped answering", Memory(), Rebuild.SILENT)


def worker(array, tries: int, results) -> None:
    """A worker process: asks the shared board before each rebuild."""
    board = BreakerBoard(array, S)
    results.put([board.admit(REBUILD, Memory(), NOW + i, 5, 60).step.value
                 for i in range(tries)])


def test_workers_in_other_processes_share_one_budget_and_see_the_parents_verdict():
    ctx = multiprocessing.get_context("spawn")
    array = breaker_board.new_array(ctx)
    parent = BreakerBoard(array, S)
    parent.publish(Suspicion(), routers=30)  # budget 3
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(array, 3, results)) for _ in range(2)]
    for p in procs:
        p.start()
    steps = [results.get(timeout=60), results.get(timeout=60)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    taken = sum(s == "StopVM" for each in steps for s in each)
    assert taken == 3  # of six asked for, across both processes
    view = parent.view(NOW + 3)
    assert (view["rebuilds_in_window"], view["held_budget"]) == (3, 3)

    parent.publish(Suspicion(True, 9, 10, NOW), routers=30)
    late = ctx.Process(target=worker, args=(array, 1, results))
    late.start()  # a restarted worker gets the same board
    assert results.get(timeout=60) == ["CalcAction"]
    late.join(30)
    assert parent.view(NOW + 3)["held_suspect"] == 1


def die_holding_the_lock(array, held) -> None:
    array.get_lock().acquire()
    held.set()
    threading.Event().wait()  # until killed


def test_a_worker_killed_holding_the_boards_lock_hangs_nothing():
    ctx = multiprocessing.get_context("spawn")
    array = breaker_board.new_array(ctx)
    parent = BreakerBoard(array, S)
    parent.publish(Suspicion(), routers=30)
    held = ctx.Event()
    p = ctx.Process(target=die_holding_the_lock, args=(array, held))
    p.start()
    assert held.wait(60)
    p.kill()
    p.join(30)
    out: dict = {}

    def everything() -> None:
        out["judge"] = breaker_board.judge(parent, [], 30, NOW)
        out["admit"] = BreakerBoard(array, S).admit(REBUILD, Memory(), NOW, 5, 60)
        out["view"] = parent.view(NOW)

    t = threading.Thread(target=everything, daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "blocked on a dead worker's lock"
    assert out["admit"].step is Step.CALC_ACTION  # the rebuild is held, not taken
    assert out["view"]["board_locked"] is True and out["view"]["rebuilds_in_window"] == 0


def die_holding_the_boards_lock(array, held) -> None:
    board = BreakerBoard(array, S)
    with board._locked() as taken:  # as admit takes it
        assert taken
        held.set()
        threading.Event().wait()  # until killed


def test_the_lock_of_a_worker_killed_holding_it_is_released_when_it_is_reaped():
    ctx = multiprocessing.get_context("spawn")
    array = breaker_board.new_array(ctx)
    parent = BreakerBoard(array, S, lock_timeout=0.2)
    parent.publish(Suspicion(), routers=30)
    held = ctx.Event()
    p = ctx.Process(target=die_holding_the_boards_lock, args=(array, held))
    p.start()
    assert held.wait(60)
    p.kill()
    p.join(30)
    assert parent.release_dead(p.pid + 1) is False  # another worker's death: left alone
    assert parent.admit(REBUILD, Memory(), NOW, 5, 60).step is Step.CALC_ACTION
    assert parent.release_dead(p.pid) is True  # as the supervisor does on reaping it
    assert parent.release_dead(p.pid) is False  # once only
    assert BreakerBoard(array, S).admit(REBUILD, Memory(), NOW, 5, 60).step is Step.STOP_VM
    assert parent.view(NOW)["board_locked"] is False
