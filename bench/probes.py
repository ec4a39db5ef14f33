"""What the scale bench measures with, on the host (root): pings from namespaces (one
shot, continuous with loss counting, and the first reply after a moment), the CPU
and memory of a set of processes (psutil), and the kernel's memory and log.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterable

import psutil

from astara.burnin.host import in_ns

REPLY = re.compile(r"^\[(\d+\.\d+)\].* bytes from .*icmp_seq=(\d+)")
SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


def pings(ns: str, address: str, wait: float = 1.0) -> bool:
    """One ping from namespace ``ns`` answered within ``wait`` s."""
    return in_ns(ns, "ping", "-n", "-c1", "-W", str(wait), address, check=False,
                 timeout=wait + 10).returncode == 0


def all_answer(pairs: list[tuple[str, str]], timeout: float, what: str,
               threads: int = 16) -> None:
    """Wait until every (namespace, address) pair pings; retry only those that fail."""
    pending = list(pairs)
    deadline = time.monotonic() + timeout
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        while pending:
            ok = list(pool.map(lambda p: pings(*p), pending))
            pending = [p for p, good in zip(pending, ok, strict=True) if not good]
            if pending and time.monotonic() > deadline:
                sample = ", ".join(f"{ns} -> {a}" for ns, a in pending[:3])
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: "
                                     f"{len(pending)} of {len(pairs)} still fail ({sample})")
            if pending:
                time.sleep(0.5)


class Pinger:
    """Continuous pings from ``ns`` to ``address`` (every ``interval`` s) until ``stop``."""

    def __init__(self, ns: str, address: str, interval: float = 0.1):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "ping", "-n", "-D", "-i", str(interval), address],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def stop(self) -> int:
        """Stop; the echo requests that went unanswered (one still in flight is not lost)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # ping prints its summary
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return lost(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def lost(output: str) -> int:
    """Echo requests unanswered in the output of ``ping -D`` stopped by SIGINT: the
    gaps between the replies' sequence numbers (iputils numbers from 1), and those sent
    after the last reply but one (the last may still have been in flight)."""
    seqs = {int(m.group(2)) for line in output.splitlines() if (m := REPLY.match(line))}
    summary = SUMMARY.search(output)
    sent = int(summary.group(1)) if summary else 0
    if not seqs:
        return sent
    return max(seqs) - len(seqs) + max(0, sent - max(seqs) - 1)


def first_reply(ns: str, address: str, act, timeout: float = 30.0,
                interval: float = 0.005) -> float:
    """Start pinging ``address`` from ``ns`` every ``interval`` s, call ``act()``, and
    return the seconds from just before ``act()`` to the first reply."""
    # A count, not a deadline (-w): with a deadline ping exits at the first error the
    # network reports, e.g. "host unreachable" when the address's ARP fails before the
    # floating IP is configured (a forced neighbour-table GC at 1,000 routers did that).
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, "ping", "-n", "-D", "-i", str(interval), "-c",
         str(max(1, int(timeout / interval))), address], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(0.05)  # ping is sending before the clock starts
        t0 = time.time()
        act()
        assert proc.stdout is not None
        for line in proc.stdout:
            if (m := REPLY.match(line)) and float(m.group(1)) >= t0:
                return float(m.group(1)) - t0
        raise AssertionError(f"no reply from {address} within {timeout:.0f} s")
    finally:
        proc.kill()
        proc.wait()


def tree(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The processes and all their descendants."""
    out = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            out += [p, *p.children(recursive=True)]
    return out


def cpu_seconds(procs: Iterable[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def host_cpu() -> float:
    """The host's busy CPU seconds so far (all cores)."""
    t = psutil.cpu_times()
    return t.user + t.system + t.nice + t.softirq + t.irq


def rss(procs: Iterable[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def pss(pids: Iterable[int]) -> tuple[int, int]:
    """(PSS, RSS) of these processes: PSS shares a library's pages among its users."""
    total_pss = total_rss = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            info = psutil.Process(pid).memory_full_info()
            total_pss += info.pss
            total_rss += info.rss
    return total_pss, total_rss


def kernel_memory() -> int:
    """Bytes the kernel holds for objects (slab, per-CPU, stacks, page tables)."""
    fields = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) * 1024
    return sum(fields.get(k, 0) for k in ("Slab", "Percpu", "KernelStack", "PageTables"))


class KernelLog:
    """Counts the kernel log's lines containing `text` from now on, read as they come
    from /dev/kmsg by a thread (a count taken from `dmesg` before and after is wrong
    once the ring buffer wraps: a 1,000-router run's bridge ports fill it). The kernel
    rate-limits some messages ("callbacks suppressed"), and records overwritten before
    they are read are only counted as such (`overwritten`): `summary()` says both.
    Never raises: a log that cannot be read is said in `summary()`."""

    def __init__(self, text: str) -> None:
        self.text, self.count, self.overwritten = text.encode(), 0, 0
        self.lines: collections.Counter[str] = collections.Counter()  # by message text
        self.error: str | None = None
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        try:
            self._fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self._fd, 0, os.SEEK_END)  # only what is logged from now on
        except OSError as exc:
            self.error = f"/dev/kmsg not read: {exc}"
            return
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                select.select([self._fd], [], [], 0.5)
                self._drain()
        except OSError as exc:
            self.error = f"/dev/kmsg no longer read: {exc}"

    def _drain(self) -> None:
        assert self._fd is not None
        while True:
            try:
                record = os.read(self._fd, 8192)  # one record per read
            except BlockingIOError:
                return
            except BrokenPipeError:  # overwritten before read: go on from here
                self.overwritten += 1
                continue
            if not record:
                return
            if self.text in record:  # "<prio>,<seq>,<time>,<flags>;<message>\n..."
                self.count += 1
                self.lines[record.split(b";", 1)[-1].split(b"\n", 1)[0].decode(
                    errors="replace")] += 1

    def close(self) -> str:
        """Stop reading (what is logged by now counted); `summary()`."""
        if self._fd is not None:
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join()
            if self.error is None:
                with contextlib.suppress(OSError):
                    self._drain()
            os.close(self._fd)
            self._fd = None
        return self.summary()

    def summary(self) -> str:
        if self.error is not None and not self.count:
            return f"unknown ({self.error})"
        said = "; ".join(f"{n} x {text!r}" for text, n in self.lines.most_common())
        return (f"{self.count} (the kernel rate-limits them: at least that many"
                + (f"; {self.overwritten} records overwritten before read" if
                   self.overwritten else "") + (f"; {self.error}" if self.error else "")
                + ")" + (f": {said}" if said else ""))
