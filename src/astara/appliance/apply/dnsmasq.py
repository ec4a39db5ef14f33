"""dnsmasq process port: check a config, start, SIGHUP, stop, find a running one.

Used by `apply.dhcp`. The real `DnsmasqProcess` runs in the current thread's
namespace; dnsmasq daemonizes and writes its pid file, so it outlives an agent
restart and is found again by pid file + command line. `launch` starts one without
waiting and gives the call that waits for it: a router's processes start side by
side (each dnsmasq's start-up is its own process's time, not the agent's).
`apply.fakes.FakeDnsmasq` is the unit-test twin.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psutil
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from astara.appliance.apply.errors import CommandFailed, ExitedAtStart, ValidationFailed


def run_as() -> tuple[str, int, int]:
    """(name, uid, gid) of the account dnsmasq runs as."""
    for name in ("dnsmasq", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, pw.pw_uid, pw.pw_gid
    raise LookupError("neither a dnsmasq nor a nobody account exists")


class Dnsmasq(Protocol):
    owner: tuple[int, int] | None  # who must be able to re-read the reloadable files

    def check(self, conf: Path) -> None: ...

    def running(self, conf: Path, pid_file: Path) -> int | None: ...

    def start(self, conf: Path, pid_file: Path) -> int: ...

    def launch(self, conf: Path, pid_file: Path) -> Callable[[], int]:
        """`start` in two halves: this one begins it, the call returned waits for it
        (its pid, or what `start` raises)."""

    def reload(self, pid: int) -> None: ...

    def stop(self, pid: int) -> None: ...


class DnsmasqProcess:
    binary = "dnsmasq"

    def __init__(self) -> None:
        self.user, *owner = run_as()
        self.owner: tuple[int, int] | None = (owner[0], owner[1])

    def check(self, conf: Path) -> None:
        res = subprocess.run([self.binary, "--test", f"--conf-file={conf}"],
                             capture_output=True, text=True)
        if res.returncode:
            raise ValidationFailed(f"dnsmasq --test refused {conf.name}: {res.stderr.strip()}")

    def running(self, conf: Path, pid_file: Path) -> int | None:
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if f"--conf-file={conf}".encode() in cmdline else None

    def start(self, conf: Path, pid_file: Path) -> int:
        return self.launch(conf, pid_file)()

    def launch(self, conf: Path, pid_file: Path) -> Callable[[], int]:
        pid_file.unlink(missing_ok=True)
        # The process started exits once its daemon is up (or refused the file).
        proc = subprocess.Popen([self.binary, f"--conf-file={conf}", f"--user={self.user}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        return lambda: self._started(proc, conf, pid_file)

    def _started(self, proc: subprocess.Popen, conf: Path, pid_file: Path) -> int:
        try:
            _, err = proc.communicate()
        except BaseException:  # interrupted: no launcher left running unwaited
            proc.kill()
            proc.wait()
            raise
        if proc.returncode:
            raise ExitedAtStart(f"dnsmasq failed to start: {err.strip()}")
        pid = Retrying(stop=stop_after_delay(1.0), wait=wait_fixed(0.01),
                       retry=retry_if_result(lambda pid: pid is None),
                       retry_error_callback=lambda _: None)(self.running, conf, pid_file)
        if pid is None:
            raise CommandFailed(f"dnsmasq wrote no pid file {pid_file}")
        return pid

    def reload(self, pid: int) -> None:
        os.kill(pid, signal.SIGHUP)

    def stop(self, pid: int) -> None:
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            proc.wait(2.0)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
