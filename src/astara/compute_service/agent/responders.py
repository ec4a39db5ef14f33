"""How the netns backend starts a tenant instance's HTTP responder.

``ZygoteResponders`` asks the host's responder zygote (``responder.py --zygote``,
started on first use with the runner, so it is tracked by a pid file and outlives
an agent restart) to fork one into the namespace; if the zygote cannot be reached or
refuses, it logs why and falls back to ``ProcessResponders``, which starts the
responder as an interpreter of its own with ``ip netns exec``. Either way the
responder writes the pid file the profile tracks it by.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Protocol

from astara.compute_service.agent import responder
from astara.compute_service.agent.runner import Runner, read_pid

LOG = logging.getLogger(__name__)
NETNS_DIR = Path("/run/netns")


class Responders(Protocol):
    def start(self, ns: str, name: str, pidfile: Path, logfile: Path) -> int: ...


class ProcessResponders:
    def __init__(self, runner: Runner, python: str):
        self.runner = runner
        self.python = python

    def start(self, ns: str, name: str, pidfile: Path, logfile: Path) -> int:
        return self.runner.spawn(["ip", "netns", "exec", ns,
                                  *responder.command(self.python, name)], pidfile, logfile)


class ZygoteResponders:
    def __init__(self, runner: Runner, directory: Path, python: str, idle: float = 30.0,
                 timeout: float = 5.0):
        self.runner = runner
        self.directory = Path(directory)
        self.python = python
        self.idle = idle
        self.timeout = timeout
        self.fallback = ProcessResponders(runner, python)
        self._lock = threading.Lock()

    @property
    def socket_path(self) -> Path:
        return self.directory / "zygote.sock"

    @property
    def pidfile(self) -> Path:
        return self.directory / "zygote.pid"

    def start(self, ns: str, name: str, pidfile: Path, logfile: Path) -> int:
        try:
            return self._ask(ns, name, pidfile, logfile)
        except (OSError, ValueError, RuntimeError) as exc:
            if self.runner.alive(pidfile):  # forked all the same (the answer was lost)
                return read_pid(pidfile) or 0
            LOG.warning("responder zygote (%s): %s; starting the responder of %s as a "
                        "process of its own", self.socket_path, exc, ns)
            return self.fallback.start(ns, name, pidfile, logfile)

    def _ensure(self) -> None:
        with self._lock:
            if not self.runner.alive(self.pidfile):
                self.directory.mkdir(parents=True, exist_ok=True)
                self.socket_path.unlink(missing_ok=True)
                self.runner.spawn(responder.zygote_command(
                    self.python, str(self.socket_path), self.idle),
                    self.pidfile, self.directory / "zygote.log")

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise
                self._ensure()  # it may have gone idle and exited meanwhile
                time.sleep(0.01)

    def _ask(self, ns: str, name: str, pidfile: Path, logfile: Path) -> int:
        self._ensure()
        request = {"netns": str(NETNS_DIR / ns), "name": name, "port": 80,
                   "pidfile": str(pidfile), "log": str(logfile)}
        with self._connect() as sock:
            sock.settimeout(self.timeout)
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline() or b"{}")
        if "pid" not in answer:
            raise RuntimeError(answer.get("error", "no answer"))
        return int(answer["pid"])
