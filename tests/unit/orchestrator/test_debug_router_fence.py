"""``astara-debug-router`` in a cluster: its pushes carry the epoch of the lease it
borrowed, so an appliance holding a newer owner's epoch refuses them and the session
stops in one line; a lease that changes hands stops it before it acts;
``--override-fence`` pushes with no epoch, said at WARNING and journaled."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
from test_cluster_fence import Store
from tests.orchestrator_world import REF, RID, router_model, sync_mgmt

from astara.cli import debug_router
from astara.cli.router_hold import LeftInDebug
from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.cluster.borrowed import session_tenure
from astara.orchestrator.cluster.leases import Lease
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.wire.tenure import Tenure

WHO = "astara-debug-router root@host-1 pid 7"
A4 = Lease("orch-a/1/x", 4, 0.0)
B5 = Lease("orch-b/2/y", 5, 0.0)
STEPS = SimpleNamespace(max_steps=1, dry_run=False, pdb=False)


@pytest.mark.parametrize(("began", "now", "want"), [
    (A4, A4, Tenure(4, f"{WHO} for orch-a/1/x")),  # the owner's epoch, said to be ours
    (A4, replace(A4, expires_at=9.0), Tenure(4, f"{WHO} for orch-a/1/x")),  # renewed
    (A4, None, Tenure(4, f"{WHO} for orch-a/1/x")),  # the row gone: the appliance decides
    (None, None, Tenure(0, WHO)),  # never owned: below any owner's epoch
    (A4, B5, "changed hands"),
    (None, B5, "changed hands"),
])
def test_session_tenure_table(began, now, want):
    got = session_tenure(began, now, WHO)
    assert got == want if isinstance(want, Tenure) else want in got


def world(tmp_path, override=False, lease=A4):
    """A router its owner (epoch 4) booted and configured, a push due again, and the
    debugger's reconciler over the same fakes, fenced as ``main`` fences it."""
    network = FakeNetwork(models={RID: router_model()})
    compute = FakeCompute()
    appliances = FakeAppliances(compute)
    store = Store()
    settings = replace(plan_defaults(), health_check_period=60)
    owner = Reconciler(Observer(network, compute, appliances, management_defaults()),
                       Executor(network, compute, appliances,
                                fence=lambda ref: Tenure(4, "orch-a/1/x")),
                       settings, store=store)
    for _ in range(10):
        owner.run(REF, True)
        sync_mgmt(network, appliances)
        if owner.state(REF).steps[-1].step == "Alive":
            break
    (instance,) = compute.servers
    assert appliances.tenures[instance].epoch == 4
    (address,) = appliances.applied
    appliances.applied_digest[address] = "an older document"  # a push is due
    debugger = Reconciler(Observer(network, compute, appliances, management_defaults()),
                          Executor(network, compute, appliances), settings, store=store)
    rt = SimpleNamespace(reconciler=debugger, appliance=appliances)
    journal = debug_router.Journal(tmp_path / "steps.jsonl")
    row = {"now": replace(lease, expires_at=time.time() + 10)}
    debug_router.fence(rt, True, override, lambda rid: row["now"], WHO, journal, RID)
    return appliances, instance, address, rt, journal, row


def test_a_debug_push_under_a_stale_epoch_is_refused_in_one_line(tmp_path):
    appliances, instance, address, rt, journal, _ = world(tmp_path)
    # A newer owner recorded epoch 5 there; the row the debugger read still says 4.
    appliances.tenures[instance] = Tenure(5, "orch-b/2/y")
    calls = len(appliances.calls)
    with pytest.raises(debug_router.FencedOut) as refused:
        debug_router._steps(STEPS, rt, REF, journal)
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"router {RID}: ConfigureVM not performed")
    assert "epoch 4" in line and "epoch 5" in line and "a newer owner exists" in line
    assert "--override-fence" in line
    pushes = [c for c in appliances.calls[calls:] if c[0] == "push"]
    assert len(pushes) == 1 and appliances.applied_digest[address] == "an older document"
    assert appliances.tenures[instance] == Tenure(5, "orch-b/2/y")


def test_a_debug_push_goes_under_the_borrowed_epoch_and_stops_once_it_changes_hands(
        tmp_path):
    appliances, instance, address, rt, journal, row = world(tmp_path)
    debug_router._steps(STEPS, rt, REF, journal)  # pushed at the owner's epoch: applied
    assert appliances.applied_digest[address] != "an older document"
    assert appliances.tenures[instance].epoch == 4
    appliances.applied_digest[address] = "an older document"
    row["now"] = replace(B5, expires_at=time.time() + 10)  # a newer owner took the router
    calls = len(appliances.calls)
    with pytest.raises(debug_router.FencedOut) as refused:
        debug_router._steps(STEPS, rt, REF, journal)
    assert "the lease changed hands during this debug session (epoch 4 of orch-a/1/x, now " \
        "epoch 5 of orch-b/2/y)" in str(refused.value)
    assert not [c for c in appliances.calls[calls:] if c[0] == "push"]


def test_override_fence_pushes_without_an_epoch_warns_and_journals(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="astara.cli.debug_router"):
        appliances, instance, address, rt, journal, _ = world(tmp_path, override=True)
    assert any("--override-fence" in r.getMessage() and WHO in r.getMessage()
               for r in caplog.records)
    assert rt.appliance.override == WHO and rt.reconciler.executor.fence is None
    appliances.tenures[instance] = Tenure(5, "orch-b/2/y")
    debug_router._steps(STEPS, rt, REF, journal)
    assert appliances.applied_digest[address] != "an older document"  # applied
    assert appliances.tenures[instance] == Tenure(5, "orch-b/2/y")  # nothing recorded
    journal.close()
    events = [json.loads(line)["event"] for line in journal.path.read_text().splitlines()]
    assert events[0] == "fence overridden"


def test_a_single_node_debug_push_carries_no_epoch(tmp_path):
    rt = SimpleNamespace(reconciler=SimpleNamespace(executor=SimpleNamespace(fence=None)),
                         appliance=SimpleNamespace(override=None))
    debug_router.fence(rt, False, True, lambda rid: A4, WHO,  # type: ignore[arg-type]
                       debug_router.Journal(tmp_path / "j.jsonl"), RID)
    assert rt.reconciler.executor.fence is None and rt.appliance.override is None


def test_fenced_and_left_in_debug_mode_says_both_in_one_line_each(capsys):
    fenced = debug_router.FencedOut(f"router {RID}: ConfigureVM not performed: fenced")
    with pytest.raises(SystemExit) as ended:
        debug_router.left_in_debug(LeftInDebug(RID, "HTTP 503", fenced))
    assert ended.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].endswith("(HTTP 503)")
    assert err[1] == f"astara-debug-router: router {RID}: ConfigureVM not performed: fenced"
