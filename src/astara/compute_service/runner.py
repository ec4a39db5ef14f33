"""Commands and long-running processes for the netns backend, behind a Protocol.

``SubprocessRunner`` runs ``ip``/``sysctl`` commands and spawns daemons in their own
session (they outlive an agent restart, which adopts them), tracking each by a pid
file; ``kill`` only signals the pid its own pid file names. ``FakeRunner`` records
the commands for unit tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Protocol


class CommandError(Exception):
    def __init__(self, argv: list[str], rc: int, err: str):
        self.rc = rc
        self.err = err
        super().__init__(f"{' '.join(argv)}: rc={rc}: {err.strip()}")


class Runner(Protocol):
    def run(self, argv: list[str], check: bool = True) -> str: ...

    def spawn(self, argv: list[str], pidfile: Path, logfile: Path) -> int: ...

    def alive(self, pidfile: Path) -> bool: ...

    def kill(self, pidfile: Path) -> None: ...


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


class SubprocessRunner:
    def run(self, argv: list[str], check: bool = True) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if check and proc.returncode != 0:
            raise CommandError(argv, proc.returncode, proc.stderr)
        return proc.stdout

    def spawn(self, argv: list[str], pidfile: Path, logfile: Path) -> int:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(logfile, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True)
        pidfile.write_text(f"{proc.pid}\n")
        return proc.pid

    def alive(self, pidfile: Path) -> bool:
        pid = read_pid(pidfile)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with contextlib.suppress(OSError):  # a zombie of ours counts as dead
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                return False
        return True

    def kill(self, pidfile: Path) -> None:
        pid = read_pid(pidfile)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    if not self.alive(pidfile):
                        break
                    time.sleep(0.01)
                else:
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()


class FakeRunner:
    def __init__(self):
        self.commands: list[list[str]] = []
        self.processes: dict[Path, list[str]] = {}

    def run(self, argv: list[str], check: bool = True) -> str:
        self.commands.append(list(argv))
        return ""

    def spawn(self, argv: list[str], pidfile: Path, logfile: Path) -> int:
        self.processes[pidfile] = list(argv)
        return 1000 + len(self.processes)

    def alive(self, pidfile: Path) -> bool:
        return pidfile in self.processes

    def kill(self, pidfile: Path) -> None:
        self.processes.pop(pidfile, None)
