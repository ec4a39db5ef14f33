"""The burn-in's upstream namespace (``burnin.host.Upstream``) as a run killed outright
leaves it: its HTTP server ends on its own, and ``astara-netns-cleanup --force
--prefix bi-up-...`` takes the namespace."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from tests.support import wait_for

from astara.cli import netns_cleanup

pytestmark = [pytest.mark.functional]

HOLDER = """
import signal, sys
from astara.burnin.host import Upstream
up = Upstream(sys.argv[1], sys.argv[2], "198.51.100.0/24", "198.51.100.1", port=8089)
up.open()
print("up", flush=True)
signal.pause()  # until the test kills it
"""


def test_a_killed_runs_upstream_server_ends_and_cleanup_takes_its_namespace(capsys):
    run_id = f"k{secrets.token_hex(3)}"
    bridge = f"astbu{secrets.token_hex(3)}"
    ns = f"bi-up-{run_id}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, run_id, bridge],
                              stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[3])
    server: psutil.Process | None = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        server = wait_for(lambda: psutil.Process(holder.pid).children(), 10, "its server")[0]
        assert server.is_running() and server.status() != psutil.STATUS_ZOMBIE
        holder.send_signal(signal.SIGKILL)  # no cleanup of its own
        holder.wait(10)
        wait_for(lambda: not server.is_running() or server.status() == psutil.STATUS_ZOMBIE,
                 10, "the orphaned server to end")
        assert netns_cleanup.main(["--force", "--prefix", ns,
                                   "--bridge-prefix", "astbu-none"]) == 0
        assert ns not in netns_cleanup.namespaces(("bi-up-",))
        assert f"namespace {ns}" in capsys.readouterr().out
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if server is not None and server.is_running():  # (it outlived the holder)
            server.kill()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", f"bu{run_id}"[:15]], capture_output=True,
                       check=False)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
