"""Commands and long-running processes for the netns backend, behind a Protocol.

``SubprocessRunner`` runs ``ip`` commands (``batch``: many in one ``ip -batch``
process), writes a namespace's sysctls from this thread (``setns``, no process),
applies ``nft -f -`` scripts through libnftables (``common.libnft``) when it loads,
and spawns daemons in their own session (they outlive an agent restart, which
adopts them) in the pid file's directory. The child writes its pid file itself
before it execs, so a crash of the spawner right after the fork leaves no untracked
process; ``kill`` only signals the pid its own pid file names, and only while that
pid is still the process the file was written for: a process that started after the
file was last written got a recycled pid and is somebody else's. ``kill`` waits for
the exit; ``kill_now`` (SIGKILL) does not, for a process whose exit nobody waits on.
``in_netns`` is the argv prefix that starts a command in a namespace. ``FakeRunner``
records the commands for unit tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Protocol

import psutil
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_fixed

from astara.common import libnft
from astara.common.netns import NETNS_RUN_DIR, entered
from astara.compute_service.agent import netlink


class CommandError(Exception):
    def __init__(self, argv: list[str], rc: int, err: str):
        self.rc = rc
        self.err = err
        super().__init__(f"{' '.join(argv)}: rc={rc}: {err.strip()}")


IPV6_CONF = Path("/proc/sys/net/ipv6/conf")


def _write_sysctls(values: dict[str, str]) -> None:
    """``net.a.b.dev`` -> /proc/sys/net/a/b/dev (our device names hold no dot). An
    IPv6 one that is not there is skipped: a host booted without IPv6, or a device
    whose MTU is below 1280, has no IPv6 settings (as ``set_ipv6`` skips them)."""
    for key, value in values.items():
        try:
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)
        except FileNotFoundError:
            if not key.startswith("net.ipv6."):
                raise


class Runner(Protocol):
    def run(self, argv: list[str], check: bool = True, stdin: str | None = None) -> str: ...

    def batch(self, lines: list[str], netns: str | None = None) -> None:
        """Run ``ip`` commands (without the leading ``ip``), stopping at the first error."""

    def links(self, netns: str) -> tuple[list[dict], list[dict]]:
        """``netns``'s links and PERMANENT neighbours as ``ip -j`` prints them (([], [])
        when it is gone)."""

    def addresses(self, netns: str) -> list[dict]:
        """``netns``'s links with their ``addr_info``, as ``ip -j addr show`` prints them
        ([] when it is gone)."""

    def sysctl(self, netns: str, values: dict[str, str]) -> None:
        """Write ``net.*`` sysctls of namespace ``netns``."""

    def set_ipv6(self, devices: list[str], enabled: bool) -> list[str]:
        """IPv6 on or off on these devices of this process's own namespace (the
        host's), written only where it differs; one without IPv6 (an MTU below
        1280, a host booted without it) is skipped. The devices written."""

    def spawn(self, argv: list[str], pidfile: Path, logfile: Path) -> int: ...

    def alive(self, pidfile: Path) -> bool: ...

    def kill(self, pidfile: Path) -> None: ...

    def kill_now(self, pidfile: Path) -> None:
        """SIGKILL the process ``pidfile`` names and forget the file, without waiting
        for its exit."""


# Seconds a process's start may follow its pid file's write and still be the one it
# names (the clocks compared are coarse: boot time has a one-second resolution).
RECYCLED_AFTER = 2.0


def started_at(pid: int) -> float | None:
    """Wall-clock start time of ``pid``, or None if it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pid_text(pidfile: Path) -> str | None:
    try:
        return pidfile.read_text().strip()
    except FileNotFoundError:
        return None


# A spawned child truncates then writes its pid file (``echo $$ > file``): a reader can
# catch it empty for a few microseconds, which is not "no process": read it again.
def read_pid(pidfile: Path) -> int | None:
    text = Retrying(stop=stop_after_attempt(20), wait=wait_fixed(0.001),
                    retry=retry_if_result(lambda text: text == ""),
                    retry_error_callback=lambda _: None)(_pid_text, pidfile)
    try:
        return int(text) if text else None
    except ValueError:
        return None


# The child records its own pid, then becomes the command (same pid).
_PIDFILE_SH = 'echo $$ > "$0" && exec "$@"'


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def in_netns(ns: str) -> list[str]:
    """The argv prefix that runs a command in namespace ``ns``: nsenter execs it in the
    namespace (same pid, so the pid file still names it). Not ``ip netns exec``, which
    also unshares a mount namespace copying every mount (one per namespace in
    /run/netns) and remounts /sys: 4 ms more per start, and more for each of the
    command's own children, at a thousand namespaces; none of our commands reads
    /sys or an /etc/netns file."""
    return ["nsenter", f"--net={NETNS_RUN_DIR}/{ns}"]


# ``nft -f -`` (a script on stdin): applied through libnftables when it loads.
NFT_SCRIPT = ["nft", "-f", "-"]
COMMAND_TIMEOUT = 30.0  # seconds: a command, or a wait for the library's previous call
_nft_context: libnft.Context | None = None
_nft_tried = False
_nft_lock = threading.Lock()


def nft_context() -> libnft.Context | None:
    """The process's libnftables (a context made per call, in the calling thread's
    namespace); None when the library cannot be loaded: ``nft`` runs."""
    global _nft_context, _nft_tried
    with _nft_lock:
        if not _nft_tried:
            _nft_tried = True
            try:
                # (the agent's one context: a hung call must not stop every plug)
                _nft_context = libnft.Context(lock_timeout=COMMAND_TIMEOUT)
            except (OSError, AttributeError):  # not installed, or too old an API
                _nft_context = None
        return _nft_context


class SubprocessRunner:
    def run(self, argv: list[str], check: bool = True, stdin: str | None = None) -> str:
        if argv == NFT_SCRIPT and stdin is not None and (ctx := nft_context()) is not None:
            try:
                rc, out, err = ctx.run(stdin)
            except libnft.Unavailable:
                pass  # the ``nft`` process below (few descriptors, its own timeout)
            else:
                if check and rc != 0:  # the library says -1; ``nft`` exits with 1
                    raise CommandError(argv, 1, err)
                return out
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              input=stdin)
        if check and proc.returncode != 0:
            raise CommandError(argv, proc.returncode, proc.stderr)
        return proc.stdout

    def batch(self, lines: list[str], netns: str | None = None) -> None:
        """The lines in one ``ip -batch``, but neighbour pins and (in a namespace whose
        lines are all such) links set up over rtnetlink from this process
        (``netlink.write``): at a thousand appliances an ``ip`` that names a device
        dumps every link first, and an ``ip -n`` copies the host's mounts."""
        changes = [netlink.change(line) for line in lines]
        if netns is not None and all(changes):
            here = [c for c in changes if c is not None]
            rest: list[str] = []
        else:
            here = [c for c in changes if c is not None and c.kind != "link up"]
            rest = [line for line, c in zip(lines, changes, strict=True)
                    if c is None or c.kind == "link up"]
        if rest:
            argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
            try:
                self.run(argv, stdin="\n".join(rest) + "\n")
            except CommandError as exc:
                raise CommandError(argv + rest, exc.rc, exc.err) from None
        try:  # after the links the ``ip`` lines made (a pin names its bridge or veth)
            netlink.write(netns, here)
        except OSError as exc:
            raise CommandError(["ip", *(["-n", netns] if netns else []), "(rtnetlink)"],
                               2, str(exc)) from None

    def links(self, netns: str) -> tuple[list[dict], list[dict]]:
        """Read in this process: no ``ip`` run per namespace (``agent.netlink``)."""
        return netlink.read(netns)

    def addresses(self, netns: str) -> list[dict]:
        """Read in this process (``agent.netlink``): no ``ip -n``."""
        return netlink.read_addresses(netns)

    def sysctl(self, netns: str, values: dict[str, str]) -> None:
        """Enter ``netns`` in this thread only, write the values, come back."""
        try:
            with entered(netns):
                _write_sysctls(values)
        except OSError as exc:
            raise CommandError(["sysctl", netns, *values], 1, str(exc)) from None

    def set_ipv6(self, devices: list[str], enabled: bool) -> list[str]:
        want, written = "0" if enabled else "1", []
        for dev in devices:
            path = IPV6_CONF / dev / "disable_ipv6"
            try:
                if path.read_text().strip() == want:
                    continue
                path.write_text(want)
            except FileNotFoundError:
                continue  # no IPv6 on it (or it is gone: the next batch says so)
            except OSError as exc:
                raise CommandError(["sysctl", f"net.ipv6.conf.{dev}.disable_ipv6={want}"],
                                   1, str(exc)) from None
            written.append(dev)
        return written

    def spawn(self, argv: list[str], pidfile: Path, logfile: Path) -> int:
        pidfile.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Logs and pid files are the owner's only, whatever the caller's umask.
        fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            proc = subprocess.Popen(["sh", "-c", _PIDFILE_SH, str(pidfile), *argv],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True,
                                    cwd=pidfile.parent)
        pidfile.write_text(f"{proc.pid}\n")
        os.chmod(pidfile, 0o600)
        return proc.pid

    def alive(self, pidfile: Path) -> bool:
        pid = read_pid(pidfile)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
            written = pidfile.stat().st_mtime
        except (ProcessLookupError, FileNotFoundError):
            return False
        if is_zombie(pid):  # a zombie of ours counts as dead
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
        started = started_at(pid)
        return started is not None and started <= written + RECYCLED_AFTER

    def kill(self, pidfile: Path) -> None:
        pid = read_pid(pidfile)
        if pid is not None and self.alive(pidfile):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                proc.terminate()
                try:
                    proc.wait(1.0)  # reaps it too when it is our child
                except psutil.TimeoutExpired:
                    proc.kill()
                    # SIGKILL is asynchronous: wait for the exit (and reap it) so the
                    # caller never sees it still running after kill() returned.
                    with contextlib.suppress(psutil.TimeoutExpired):
                        proc.wait(5.0)
        if pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()

    def kill_now(self, pidfile: Path) -> None:
        # Once SIGKILL is sent the process runs none of its own code again; its exit
        # (closing a packet socket waits for the kernel's RCU: ~10 ms) goes on
        # without us, and a thread reaps it if it is our child (else: ECHILD at once).
        pid = read_pid(pidfile)
        if pid is not None and self.alive(pidfile):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                threading.Thread(target=_reap, args=(pid,), daemon=True,
                                 name=f"reap-{pid}").start()
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()


class FakeRunner:
    def __init__(self):
        self.commands: list[list[str]] = []
        self.stdin: list[str] = []  # what each command given input read
        self.processes: dict[Path, list[str]] = {}
        self.ipv6_off: set[str] = set()  # the host devices set_ipv6 turned it off on

    def run(self, argv: list[str], check: bool = True, stdin: str | None = None) -> str:
        self.commands.append(list(argv))
        if stdin is not None:
            self.stdin.append(stdin)
        return ""

    def batch(self, lines: list[str], netns: str | None = None) -> None:
        for line in lines:
            self.commands.append(["ip"] + (["-n", netns] if netns else []) + line.split())

    def links(self, netns: str) -> tuple[list[dict], list[dict]]:
        self.commands.append(["links", netns])
        return [], []

    def addresses(self, netns: str) -> list[dict]:
        self.commands.append(["addresses", netns])
        return []

    def sysctl(self, netns: str, values: dict[str, str]) -> None:
        self.commands.append(["sysctl", netns] + [f"{k}={v}" for k, v in values.items()])

    def set_ipv6(self, devices: list[str], enabled: bool) -> list[str]:
        # As the host's: written only where it differs (a device starts with IPv6 on).
        written = [dev for dev in devices if (dev in self.ipv6_off) == enabled]
        if written:
            self.ipv6_off.symmetric_difference_update(written)
            self.commands.append(["sysctl"] + [
                f"net.ipv6.conf.{dev}.disable_ipv6={0 if enabled else 1}" for dev in written])
        return written

    def spawn(self, argv: list[str], pidfile: Path, logfile: Path) -> int:
        self.processes[pidfile] = list(argv)
        return 1000 + len(self.processes)

    def alive(self, pidfile: Path) -> bool:
        return pidfile in self.processes

    def kill(self, pidfile: Path) -> None:
        self.processes.pop(pidfile, None)

    def kill_now(self, pidfile: Path) -> None:
        self.processes.pop(pidfile, None)
