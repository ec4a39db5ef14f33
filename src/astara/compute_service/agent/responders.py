"""How the netns backend starts a tenant instance's HTTP responder.

``ZygoteResponders`` asks the host's responder zygote (``responder.py --zygote``,
started on first use with the runner, so it is tracked by a pid file and outlives
an agent restart) to fork one into the namespace; if the zygote cannot be reached or
refuses, it logs why and falls back to ``ProcessResponders``, which starts the
responder as an interpreter of its own with ``nsenter --net``. Either way the
responder writes the pid file the profile tracks it by.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path
from typing import Protocol

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from astara.compute_service.agent import responder
from astara.compute_service.agent.runner import Runner, in_netns, read_pid

LOG = logging.getLogger(__name__)
NETNS_DIR = Path("/run/netns")


class Responders(Protocol):
    def start(self, ns: str, name: str, pidfile: Path, logfile: Path) -> int: ...


class ProcessResponders:
    def __init__(self, runner: Runner, python: str):
        self.runner = runner
        self.python = python

    def start(self, ns: str, name: str, pidfile: Path, logfile: Path) -> int:
        return self.runner.spawn([*in_netns(ns),
                                  *responder.command(self.python, name)], pidfile, logfile)


class Refused(RuntimeError):
    """The zygote answered that the responder could not start (its child is gone)."""


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
            # A lost answer may hide a responder forked all the same; a refusal does not
            # (the zygote killed the child that failed, which may not have exited yet).
            if not isinstance(exc, Refused) and self.runner.alive(pidfile):
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
        # The zygote may be starting, or have gone idle and exited meanwhile.
        for attempt in Retrying(
                retry=retry_if_exception_type((FileNotFoundError, ConnectionRefusedError)),
                stop=stop_after_delay(self.timeout), wait=wait_fixed(0.01),
                before_sleep=lambda _: self._ensure(), reraise=True):
            with attempt:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(str(self.socket_path))
                except OSError:
                    sock.close()
                    raise
        return sock

    def _ask(self, ns: str, name: str, pidfile: Path, logfile: Path) -> int:
        self._ensure()
        request = {"netns": str(NETNS_DIR / ns), "name": name, "port": 80,
                   "pidfile": str(pidfile), "log": str(logfile)}
        with self._connect() as sock:
            sock.settimeout(self.timeout)
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline() or b"{}")
        if "pid" not in answer:
            if "error" in answer:
                raise Refused(answer["error"])
            raise RuntimeError("no answer")
        return int(answer["pid"])
