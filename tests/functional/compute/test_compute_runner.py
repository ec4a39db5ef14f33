"""The runner's pid files: a process it spawned is alive and killed; a pid that was
recycled for another process after the file was written is neither (never signalled)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from astara.compute_service.agent.runner import SubprocessRunner, started_at


def running(pid: int) -> bool:
    """Exists and is not a zombie (the spawner's child may wait to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_spawned_process_is_alive_then_killed(tmp_path):
    runner = SubprocessRunner()
    pidfile = tmp_path / "sleeper.pid"
    pid = runner.spawn(["sleep", "60"], pidfile, tmp_path / "sleeper.log")
    try:
        assert runner.alive(pidfile)
        assert abs(started_at(pid) - time.time()) < 5
        runner.kill(pidfile)
        assert not pidfile.exists()
        assert not runner.alive(pidfile)
        deadline = time.monotonic() + 10
        while running(pid):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        subprocess.run(["kill", "-9", str(pid)], capture_output=True)


def test_a_recycled_pid_is_not_ours(tmp_path):
    runner = SubprocessRunner()
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = tmp_path / "dhclient-eth0.pid"
        pidfile.write_text(f"{stranger.pid}\n")
        # the file was written an hour before this process started: its pid was reused
        old = time.time() - 3600
        os.utime(pidfile, (old, old))
        assert not runner.alive(pidfile)
        runner.kill(pidfile)
        assert stranger.poll() is None  # never signalled
        assert not pidfile.exists()

        pidfile.write_text(f"{stranger.pid}\n")  # written after it started: it is the one
        assert runner.alive(pidfile)
    finally:
        stranger.kill()
        stranger.wait()


def test_a_process_that_ignores_sigterm_is_killed(tmp_path):
    runner = SubprocessRunner()
    pidfile = tmp_path / "stubborn.pid"
    # SIG_IGN survives exec: sleep itself ignores SIGTERM
    pid = runner.spawn(["sh", "-c", "trap '' TERM; exec sleep 60"], pidfile,
                       tmp_path / "stubborn.log")
    try:
        assert runner.alive(pidfile)
        runner.kill(pidfile)
        assert not running(pid)  # SIGKILLed and reaped by kill itself
        assert not pidfile.exists()
    finally:
        subprocess.run(["kill", "-9", str(pid)], capture_output=True)
