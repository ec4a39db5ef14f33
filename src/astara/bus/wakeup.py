"""Prompt, cross-process wake-ups for outbox consumers on one host.

Each waiting consumer binds a Unix datagram socket in a shared directory; a
publisher, after its commit, sends one byte to every socket there. A consumer
never sleeps on a fixed poll: it waits on its socket (with a long safety-net
timeout) and drains the pending bytes before reading the outbox again.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import select
import socket
from pathlib import Path

_counter = itertools.count()


class WakeupDir:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def notify(self) -> None:
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            for entry in entries:
                if not entry.name.endswith(".sock"):
                    continue
                try:
                    sock.sendto(b"!", entry.path)
                except BlockingIOError:
                    pass  # its buffer is full: it has wake-ups pending anyway
                except OSError as exc:
                    if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                        # The listener died without cleaning up.
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
        finally:
            sock.close()

    def listen(self) -> Listener:
        return Listener(self.directory)


class Listener:
    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{next(_counter)}.sock"
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.setblocking(False)

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while self._sock.recv(64):
                pass
        return True

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
