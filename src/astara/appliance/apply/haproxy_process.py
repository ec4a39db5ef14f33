"""The real haproxy: check, start (master-worker, daemon), reload, stop, read stats.

Used by `apply.haproxy` and `status`. Started from the thread that entered the
appliance's namespace, so haproxy and its workers live there. `haproxy -W -D`
daemonizes its master, which writes the pid file and outlives an agent restart; a
running master is recognised by that pid file and its command line (`-f <conf>`).
A reload is the master's SIGUSR2: it re-executes itself on the same file and forks
a new worker, which gets the listening sockets from the old one (`expose-fd
listeners`), while the old worker finishes its established connections. The reload
is done when a new worker appears; none within `RELOAD_WAIT` means the master kept
the old workers, and the apply fails.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import signal
import socket
import subprocess
from pathlib import Path

import psutil
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from astara.appliance.apply.errors import CommandFailed, ValidationFailed

RELOAD_WAIT = 10.0
_ALERT = re.compile(r"^\[ALERT\]\s*\(\d+\)\s*:\s*")
STATS_TIMEOUT = 2.0


def run_as() -> tuple[str, str] | None:
    """(user, group) for haproxy's workers: the haproxy account, else nobody."""
    for name in ("haproxy", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, grp.getgrgid(pw.pw_gid).gr_name
    return None


def _waited(check, timeout: float):
    return Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.02),
                    retry=retry_if_result(lambda found: not found),
                    retry_error_callback=lambda _: None)(check)


class HaproxyProcess:
    binary = "haproxy"

    def __init__(self) -> None:
        self.user = run_as()

    def check(self, conf: Path) -> None:
        res = subprocess.run([self.binary, "-c", "-f", str(conf)],
                             capture_output=True, text=True)
        if res.returncode:
            raise ValidationFailed("haproxy -c refused the configuration: "
                                   + reason(res.stdout + res.stderr))

    def running(self, conf: Path, pid_file: Path) -> int | None:
        try:
            pid = int(pid_file.read_text().strip())
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        try:
            i = args.index(b"-f")
        except ValueError:
            return None
        if i + 1 >= len(args) or args[i + 1] != str(conf).encode():
            return None
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return None
        return pid

    def start(self, conf: Path, pid_file: Path) -> int:
        pid_file.unlink(missing_ok=True)
        res = subprocess.run([self.binary, "-W", "-D", "-p", str(pid_file), "-f", str(conf)],
                             capture_output=True, text=True)
        if res.returncode:
            raise CommandFailed(f"haproxy failed to start: {res.stderr.strip()}")
        pid = _waited(lambda: self.running(conf, pid_file), 2.0)
        if pid is None:
            # Not one we could find again: stop it, or the next push starts a second
            # haproxy serving beside it (SO_REUSEPORT) on its old configuration.
            for proc in _started_on(conf):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            raise CommandFailed(f"haproxy wrote no pid file {pid_file}")
        return pid

    def reload(self, pid: int) -> None:
        before = set(_workers(pid))
        os.kill(pid, signal.SIGUSR2)
        if not _waited(lambda: set(_workers(pid)) - before, RELOAD_WAIT):
            raise CommandFailed("haproxy did not take the new configuration "
                                "(no new worker after its reload; the old one serves)")

    def stop(self, pid: int) -> None:
        try:
            master = psutil.Process(pid)
            workers = master.children()
            master.terminate()
            master.wait(5.0)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            with contextlib.suppress(psutil.NoSuchProcess):
                master.kill()
        for worker in workers:  # they leave with their master; make sure
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()

    def stats(self, sock: Path) -> str | None:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(STATS_TIMEOUT)
                s.connect(str(sock))
                s.sendall(b"show info;show stat\n")  # info names the worker
                chunks = []
                while chunk := s.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return None
        return b"".join(chunks).decode(errors="replace")


def reason(output: str) -> str:
    """haproxy's alerts, without their tag and pid ("config : parsing [...] : ...")."""
    alerts = [_ALERT.sub("", line).strip() for line in output.splitlines()
              if line.startswith("[ALERT]")]
    return "; ".join(alerts) or output.strip()


def _started_on(conf: Path) -> list[psutil.Process]:
    """The haproxy processes running ``conf`` (its master and workers)."""
    wanted = str(conf)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info.get("cmdline") or []
        if "-f" in args and args.index("-f") + 1 < len(args) \
                and args[args.index("-f") + 1] == wanted:
            found.append(proc)
    return found


def _workers(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except psutil.NoSuchProcess:
        return []
