"""The runner's pid files: a process it spawned is alive and killed; a pid that was
recycled for another process after the file was written is neither (never signalled).
``kill_now`` SIGKILLs without waiting; a command started with ``in_netns`` is in the
namespace, keeps this process's mount namespace, and its pid file names it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from tests.support import wait_for

from astara.compute_service.agent.runner import SubprocessRunner, in_netns, read_pid, started_at


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


@pytest.mark.parametrize("kill", ["kill", "kill_now"])
def test_a_recycled_pid_is_not_ours(tmp_path, kill):
    runner = SubprocessRunner()
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = tmp_path / "dhclient-eth0.pid"
        pidfile.write_text(f"{stranger.pid}\n")
        # the file was written an hour before this process started: its pid was reused
        old = time.time() - 3600
        os.utime(pidfile, (old, old))
        assert not runner.alive(pidfile)
        getattr(runner, kill)(pidfile)
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


def test_kill_now_sends_sigkill_and_forgets_the_pid_file(tmp_path):
    runner = SubprocessRunner()
    pidfile, marker = tmp_path / "client.pid", tmp_path / "terminated"
    # a SIGTERM would run the trap (as dhclient would run its own shutdown)
    pid = runner.spawn(["sh", "-c", f"trap 'touch {marker}; exit 0' TERM; sleep 60 & wait"],
                       pidfile, tmp_path / "client.log")
    try:
        assert runner.alive(pidfile)
        runner.kill_now(pidfile)
        assert not pidfile.exists()
        # gone and reaped (the runner's thread waits for its child), not a zombie left
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the killed child reaped")
        assert not marker.exists()
    finally:
        subprocess.run(["kill", "-9", str(pid)], capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a namespace)")
def test_a_command_in_a_namespace_is_named_by_its_pid_file(tmp_path):
    runner = SubprocessRunner()
    ns = f"astara-t-runner-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    pidfile, pid = tmp_path / "sleeper.pid", None
    try:
        pid = runner.spawn([*in_netns(ns), "sleep", "60"], pidfile, tmp_path / "sleeper.log")
        # the pid file names the command itself once nsenter has exec'd it
        wait_for(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep", 10,
                 "nsenter's exec")
        assert read_pid(pidfile) == pid and runner.alive(pidfile)
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino
        # no mount namespace of its own (``ip netns exec`` would copy every mount)
        assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
        runner.kill(pidfile)
        assert not running(pid)
    finally:
        if pid is not None:
            subprocess.run(["kill", "-9", str(pid)], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
