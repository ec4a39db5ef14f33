"""Plain helpers every test suite (and the benches) share: ports, servers, waiting, a
compute host's agent and dispatcher in threads.

Importable from anywhere as ``tests.support`` (pytest puts the repository root on
``sys.path``: ``pythonpath`` in pyproject.toml; the benches insert it themselves).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_port() -> int:
    """A free loopback port below the kernel's ephemeral range (32768-60999 here), for a
    harness that picks its ports long before its servers bind them: servers started
    meanwhile (RabbitMQ's Erlang nodes, PostgreSQL) bind ephemeral ports of their own
    and could take one picked by ``free_port``."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in 20000-32000")


def wait_for(check, timeout: float = 30.0, what: str = "condition", every: float = 0.1,
             why=None):
    """``check()``'s first true result, tried every ``every`` s for ``timeout`` s. On a
    timeout the error also says ``why()`` (what was seen last), when given."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            seen = f"; last seen: {why()}" if why is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{seen}")
        time.sleep(every)


class Server:
    """A uvicorn server in a thread of the test process, stopped at teardown."""

    def __init__(self, app, port: int, host: str = "127.0.0.1", **options):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                access_log=False, **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def run(self) -> None:
        """Serve in the calling thread until stopped (in a process of its own, say)."""
        self._server.run()

    def start(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@contextlib.contextmanager
def compute_threads(db, wakeup_dir, host: str, retry, backend=None,
                    register: bool = False) -> Iterator[tuple]:
    """A compute host's agent (``backend``, default the in-tree FakeBackend: no root) and
    the dispatcher applying its events, each in a thread; yields (agent, dispatcher).
    On exit both are stopped, woken and joined: one still running is a failure, as it
    would go on into the next tests holding its database connection."""
    from astara.bus.outbox import OutboxPublisher
    from astara.bus.wakeup import WakeupDir
    from astara.compute_service import jobs
    from astara.compute_service.agent.backend import FakeBackend
    from astara.compute_service.agent.worker import Agent
    from astara.compute_service.dispatcher import consumer as dispatcher_mod

    wake, jobs_wake = WakeupDir(wakeup_dir), WakeupDir(jobs.wakeup_dir(wakeup_dir))
    agent = Agent(db, backend or FakeBackend(), host, OutboxPublisher(wake), jobs_wake,
                  idle_wait=1.0)
    disp = dispatcher_mod.make(db, wake, 1.0, retry)
    if register:
        agent.register()
    stop = threading.Event()
    threads = [threading.Thread(target=agent.run, args=(stop.is_set,), daemon=True),
               threading.Thread(target=disp.run, args=(stop.is_set,), daemon=True)]
    for t in threads:
        t.start()
    try:
        yield agent, disp
    finally:
        stop.set()
        jobs_wake.notify()
        wake.notify()
        for t in threads:
            t.join(10)
        disp.consumer.close()
        running = [t.name for t in threads if t.is_alive()]
        assert not running, f"compute threads still running 10 s after stop: {running}"
