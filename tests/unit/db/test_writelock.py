"""The SQLite write lock: exclusive across processes, re-entrant in a thread, and a
forked child gets a lock of its own rather than sharing its parent's."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

from astara.db import writelock
from tests.support import wait_for

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""


def waits_for_flock(pid: int, path: str) -> bool:
    """Whether process ``pid`` is queued in the kernel for an flock on ``path``
    (/proc/locks lists a blocked waiter as ``N: -> FLOCK ... <pid> <dev>:<inode> ...``)."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if (len(fields) >= 7 and fields[1:3] == ["->", "FLOCK"] and int(fields[5]) == pid
                and int(fields[6].rsplit(":", 1)[1]) == inode):
            return True
    return False


def probe(path: str) -> int:
    """3 if another process holds the lock, 0 if it was free."""
    return subprocess.run([sys.executable, "-c", PROBE, path]).returncode


def test_held_excludes_other_processes_and_is_released(tmp_path):
    lock = writelock.for_database(str(tmp_path / "a.sqlite"))
    with lock.held():
        assert probe(lock.path) == 3
        with lock.held():  # re-entrant: the same thread does not wait on itself
            assert probe(lock.path) == 3
        assert probe(lock.path) == 3  # still held by the outer level
    assert probe(lock.path) == 0


def test_one_lock_per_file_per_process(tmp_path):
    a = writelock.for_database(str(tmp_path / "b.sqlite"))
    b = writelock.for_database(str(tmp_path / "." / "b.sqlite"))
    assert a is b
    assert a is not writelock.for_database(str(tmp_path / "c.sqlite"))


def test_threads_of_a_process_take_turns(tmp_path):
    lock = writelock.for_database(str(tmp_path / "d.sqlite"))
    inside = []
    overlap = []
    start = threading.Barrier(8)  # all threads meet the fresh lock at once

    def work():
        start.wait()
        for _ in range(200):
            with lock.held():
                inside.append(1)
                if len(inside) > 1:
                    overlap.append(1)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)  # nobody left holding the flock
    assert overlap == []
    assert probe(lock.path) == 0


def test_forked_child_waits_for_its_parent(tmp_path):
    lock = writelock.for_database(str(tmp_path / "e.sqlite"))
    with lock.held():
        pass  # opened in the parent before the fork
    read_end, write_end = os.pipe()
    pid = 0

    def got_in() -> bool:
        return select.select([read_end], [], [], 0)[0] != []

    try:
        with lock.held():
            pid = os.fork()
            if pid == 0:  # child: the inherited object must not share the parent's flock
                try:
                    with lock.held():
                        os.write(write_end, b"x")
                finally:
                    os._exit(0)
            # the child must queue on the flock itself, neither get in (a shared flock)
            # nor hang on a thread lock copied from the parent: wait for one of the three
            wait_for(lambda: got_in() or waits_for_flock(pid, lock.path), 30,
                     "the child to take or queue for the lock")
            assert not got_in() and waits_for_flock(pid, lock.path)
        ready, _, _ = select.select([read_end], [], [], 30)
        assert ready and os.read(read_end, 1) == b"x"
        os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:  # a failed check: do not leave the child behind
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(read_end)
        os.close(write_end)
