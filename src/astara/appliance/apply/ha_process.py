"""The real keepalived and conntrackd: check, start, reload, stop, read stats.

Used by `apply.ha` and `status`. Started from the thread that entered the
appliance's namespace, so both daemons live there. Both daemonize and outlive an
agent restart: keepalived writes its pid files itself (`-p`, `-r`); conntrackd
writes none, so the one started is found by its command line (`-C <conf>`) and its
pid recorded. A running daemon is recognised by its pid file and command line.
keepalived runs its VRRP process only (`--vrrp`); SIGHUP makes it re-read its file
and keep its state; SIGTERM makes it drop its virtual addresses and routes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import psutil
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from astara.appliance.apply.errors import CommandFailed, ValidationFailed

START_WAIT = 5.0
STOP_WAIT = 5.0
STATS_TIMEOUT = 2.0


def _waited(check, timeout: float):
    return Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.02),
                    retry=retry_if_result(lambda found: not found),
                    retry_error_callback=lambda _: None)(check)


def _runs(pid: int, flag: bytes, conf: Path) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except (OSError, psutil.Error):
        return False
    return any(a == flag and b == str(conf).encode() for a, b in zip(args, args[1:], strict=False))


def _pid_in(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _started_on(flag: str, conf: Path) -> list[int]:
    wanted = [flag, str(conf)]
    found = []
    for proc in psutil.process_iter(["cmdline", "ppid"]):
        args = proc.info.get("cmdline") or []
        if any(args[i:i + 2] == wanted for i in range(len(args) - 1)):
            found.append(proc.pid)
    return found


class HaProcesses:
    keepalived = "keepalived"
    conntrackd = "conntrackd"

    def check_keepalived(self, conf: Path) -> None:
        res = subprocess.run([self.keepalived, "-t", "-l", "-f", str(conf)],
                             capture_output=True, text=True)
        if res.returncode:
            lines = [x.strip() for x in (res.stdout + res.stderr).splitlines() if x.strip()]
            raise ValidationFailed("keepalived -t refused the configuration: "
                                   + "; ".join(lines[-5:]))

    def keepalived_running(self, conf: Path, pid_file: Path) -> int | None:
        pid = _pid_in(pid_file)
        return pid if pid is not None and _runs(pid, b"-f", conf) else None

    def start_keepalived(self, conf: Path, pid_file: Path, vrrp_pid_file: Path) -> int:
        for f in (pid_file, vrrp_pid_file):
            f.unlink(missing_ok=True)
        res = subprocess.run([self.keepalived, "--vrrp", "-p", str(pid_file), "-r",
                              str(vrrp_pid_file), "-f", str(conf)],
                             capture_output=True, text=True)
        if res.returncode:
            raise CommandFailed(f"keepalived failed to start: {res.stderr.strip()}")
        pid = _waited(lambda: self.keepalived_running(conf, pid_file), START_WAIT)
        if pid is None:
            for found in _started_on("-f", conf):
                self.stop(found)
            raise CommandFailed(f"keepalived wrote no pid file {pid_file}")
        return pid

    def reload_keepalived(self, pid: int) -> None:
        os.kill(pid, signal.SIGHUP)

    def conntrackd_running(self, conf: Path, pid_file: Path) -> int | None:
        pid = _pid_in(pid_file)
        return pid if pid is not None and _runs(pid, b"-C", conf) else None

    def start_conntrackd(self, conf: Path, pid_file: Path, lock: Path) -> int:
        pid_file.unlink(missing_ok=True)
        res = subprocess.run([self.conntrackd, "-C", str(conf), "-d"],
                             capture_output=True, text=True)
        found = _waited(lambda: _started_on("-C", conf), START_WAIT) \
            if res.returncode == 0 else None
        if not found:
            raise CommandFailed("conntrackd failed to start: "
                                + (res.stderr.strip() or res.stdout.strip()
                                   or f"exit {res.returncode}"))
        pid = found[0]
        pid_file.write_text(f"{pid}\n")
        return pid

    def stop(self, pid: int) -> None:
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            proc.wait(STOP_WAIT)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()

    def conntrackd_stats(self, conf: Path) -> str | None:
        try:
            res = subprocess.run([self.conntrackd, "-C", str(conf), "-s"],
                                 capture_output=True, text=True, timeout=STATS_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout if res.returncode == 0 else None
