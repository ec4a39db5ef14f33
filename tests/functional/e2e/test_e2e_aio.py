"""End to end, as root: astara-aio up, astara-burnin passes, nothing left behind.

Starts ``astara-aio`` on its own ports and state directory, runs ``astara-burnin``
against it (external + two tenant networks, router, instances; DHCP, SLAAC,
east-west, SNAT, floating IP in and out, metadata, the load-balancer stage, interface
removal, router deletion), then stops everything and checks no namespace, bridge or
process of the run survives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.functional.e2e.e2e_helpers import logs

BIN = Path(sys.executable).parent
NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "curl", "ping", "haproxy")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def test_burnin_passes_against_a_fresh_all_in_one(aio):
    ports, state = aio
    summary = state / "burnin.json"
    r = subprocess.run([str(BIN / "astara-burnin"),
                        "--network-url", f"http://127.0.0.1:{ports['net']}/",
                        "--compute-url", f"http://127.0.0.1:{ports['comp']}/",
                        "--loadbalancer-url", f"http://127.0.0.1:{ports['lb']}/",
                        "--boot-timeout", "90", "--json", str(summary)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{logs(state)}"
    result = json.loads(summary.read_text())
    print(r.stdout)  # the per-step timings, shown with -s
    assert result["ok"] is True
    assert len(result["steps"]) == 22
    lb_steps = [st for st in result["steps"] if st["name"].startswith(
        ("load balancer", "the VIP", "a member", "the member", "cascade delete"))]
    assert len(lb_steps) == 6 and all(st["status"] in ("ok", "warn") for st in lb_steps)
