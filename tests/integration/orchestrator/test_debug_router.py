"""``astara-debug-router`` against a running orchestrator: it borrows the router, the
orchestrator leaves it alone meanwhile, each step is journaled, and Ctrl-C hands it back.

No compute service runs (see conftest): each of the debugger's passes fails to observe,
which is a step it records like any other.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.network.helpers import name
from tests.support import free_port, wait_for

BIN = Path(sys.executable).parent


def view(orch, rid):
    r = orch.get(f"/routers/{rid}")
    return r.json()["router"] if r.status_code == 200 else None


def journal(orch, rid) -> list[dict]:
    path = orch.state_path / "debug-router" / f"{rid}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() \
        else []


def _sigint_ignored() -> None:
    # As a shell starts a background job: Python then leaves SIGINT ignored unless the
    # program installs its own handler (CI runs from such a job).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def debug_router(orch, rid, *args) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "astara-debug-router"), "--config-file",
                             str(orch.state / "orchestrator.conf"), "--router-id", rid, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_ignored)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_the_orchestrator_leaves_a_debugged_router_alone_and_gets_it_back(orchestrator, demo,
                                                                          stop):
    orch = orchestrator
    rid = demo.sdk.network.create_router(name=name("r")).id
    wait_for(lambda: (v := view(orch, rid)) and v["steps"], what="the orchestrator's pass")
    proc = debug_router(orch, rid, "--max-steps", "1000")
    try:
        held = wait_for(lambda: next((e for e in journal(orch, rid) if e["event"] == "held"),
                                     None), what="the router held")
        assert held["pid"] == proc.pid and held["already_in_debug"] is False
        reason = orch.get("/debug/").json()["routers"][rid]
        assert f"astara-debug-router pid {proc.pid}" in reason
        acked = view(orch, rid)["steps"][-1]["at"]
        # Asked to act while the router is borrowed, the orchestrator only steps aside.
        assert orch.ctl("router", "update", rid).returncode == 0
        wait_for(lambda: view(orch, rid)["steps"][-1]["at"] > acked, what="a new pass")
        theirs = [s for s in view(orch, rid)["steps"] if s["at"] >= acked]
        assert theirs and all(s["step"] == "Exit" and "debug mode" in s["reason"]
                              for s in theirs), theirs
        # The debugger's own passes are recorded.
        wait_for(lambda: any(e["event"] == "observation failed" for e in journal(orch, rid)),
                 what="a journaled step")
        proc.send_signal(stop)  # Ctrl-C, a service manager stopping it, a closed terminal
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted" in out and "steps recorded in" in out
    steps = journal(orch, rid)
    assert steps[-1]["event"] == "released"
    failed = [e for e in steps if e["event"] == "observation failed"]
    assert failed and all("compute API unreachable" in e["error"] for e in failed)
    # Handed back: no longer in debug mode, and the orchestrator works on it again.
    assert rid not in orch.get("/debug/").json()["routers"]
    wait_for(lambda: view(orch, rid)["steps"][-1]["step"] != "Exit",
             what="the orchestrator's own pass again")


def test_a_router_an_operator_had_in_debug_mode_stays_there(orchestrator, demo):
    orch = orchestrator
    rid = demo.sdk.network.create_router(name=name("r")).id
    wait_for(lambda: (v := view(orch, rid)) and v["steps"])
    assert orch.ctl("router", "debug", rid, "--reason", "mine").returncode == 0
    try:
        proc = debug_router(orch, rid, "--max-steps", "1")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "stays in debug mode" in out
        assert orch.get("/debug/").json()["routers"] == {rid: "mine"}
        assert [e["event"] for e in journal(orch, rid)] == ["held", "observation failed",
                                                           "released"]
    finally:
        orch.ctl("router", "manage", rid)


def test_without_an_orchestrator_to_ask_it_refuses_in_one_line(orchestrator, demo):
    orch = orchestrator
    rid = demo.sdk.network.create_router(name=name("r")).id
    url = f"http://127.0.0.1:{free_port()}"
    proc = debug_router(orch, rid, "--rpc-url", url)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err == f"astara-debug-router: orchestrator unreachable at {url}: [Errno 111] " \
                  f"Connection refused (use --standalone if no orchestrator runs)\n", err
