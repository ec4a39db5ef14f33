"""The responder zygote as root: it forks a responder into an instance's namespace
(tracked by its pid file, in that namespace, answering its name), falls back to a
process of its own when the zygote cannot serve, and exits when it has nothing to do."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import threading
from pathlib import Path

import pytest
from compute_stack import sh
from tests.support import wait_for

from astara.compute_service.agent.responders import ProcessResponders, ZygoteResponders
from astara.compute_service.agent.runner import SubprocessRunner

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("ip", "curl")),
                       reason="needs iproute2 and curl"),
]


def http_get(ns: str) -> str:
    return sh("ip", "netns", "exec", ns, "curl", "-s", "-m", "2", "-g", "http://[::1]:80/",
              check=False).stdout


@pytest.fixture
def lab(tmp_path):
    tag = secrets.token_hex(2)
    runner = SubprocessRunner()
    made: list[str] = []
    pidfiles: list[Path] = []

    def namespace(i: int) -> tuple[str, Path]:
        ns = f"acz-{tag}-{i}"
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        made.append(ns)
        directory = tmp_path / "instances" / ns
        directory.mkdir(parents=True)
        pidfiles.append(directory / "responder.pid")
        return ns, directory

    zygotes: list[ZygoteResponders] = []

    def zygote(**kw) -> ZygoteResponders:
        z = ZygoteResponders(runner, tmp_path / f"zygote-{len(zygotes)}", sys.executable, **kw)
        zygotes.append(z)
        return z

    yield runner, namespace, zygote
    for pidfile in pidfiles:
        runner.kill(pidfile)
    for z in zygotes:
        runner.kill(z.pidfile)
    for ns in made:
        sh("ip", "netns", "del", ns, check=False)
    # One zygote per directory, the one its pid file names: a second one (a start race)
    # would still be running here.
    strays = [pid for pid, cmd in processes().items() if f"--zygote {tmp_path}" in cmd]
    for pid in strays:
        os.kill(pid, 9)
    assert strays == []


def processes() -> dict[int, str]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    out[int(entry)] = cmd.decode(errors="replace")
    return out


def netns_inode(ns: str) -> str:
    return f"net:[{os.stat(f'/run/netns/{ns}').st_ino}]"


def test_zygote_forks_a_responder_into_the_namespace(lab):
    runner, namespace, zygote = lab
    z = zygote(idle=30)
    ns, directory = namespace(0)
    pid = z.start(ns, "vm-zero", directory / "responder.pid", directory / "responder.log")
    assert runner.alive(z.pidfile) and pid != int(z.pidfile.read_text())
    assert int((directory / "responder.pid").read_text()) == pid
    assert runner.alive(directory / "responder.pid")
    assert os.readlink(f"/proc/{pid}/ns/net") == netns_inode(ns)
    assert os.readlink(f"/proc/{pid}/cwd") == str(directory)
    assert b"--zygote" in Path(f"/proc/{pid}/cmdline").read_bytes()  # forked, not started
    assert http_get(ns) == "vm-zero\n"
    runner.kill(directory / "responder.pid")
    wait_for(lambda: http_get(ns) == "")


def test_concurrent_starts_each_get_their_own(lab):
    runner, namespace, zygote = lab
    z = zygote(idle=30)
    spots = [namespace(i) for i in range(6)]
    pids: dict[str, int] = {}

    def one(ns: str, directory: Path) -> None:
        pids[ns] = z.start(ns, f"vm-{ns}", directory / "responder.pid",
                           directory / "responder.log")

    threads = [threading.Thread(target=one, args=spot) for spot in spots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(set(pids.values())) == len(spots)
    for ns, _directory in spots:
        assert http_get(ns) == f"vm-{ns}\n"
        assert os.readlink(f"/proc/{pids[ns]}/ns/net") == netns_inode(ns)
        assert b"--zygote" in Path(f"/proc/{pids[ns]}/cmdline").read_bytes()


def test_a_refused_request_falls_back_to_a_process(lab, caplog):
    runner, namespace, zygote = lab
    z = zygote(idle=30)
    ns, directory = namespace(0)
    z.start(ns, "first", directory / "responder.pid", directory / "responder.log")
    wait_for(lambda: http_get(ns) == "first\n")  # port 80 is held before the second asks
    second = directory.parent / "second"
    second.mkdir()
    # Port 80 is taken in that namespace: the zygote's child cannot listen and says so;
    # the fallback process then fails the same way (and the first one keeps serving).
    with caplog.at_level("WARNING"):
        z.start(ns, "second", second / "responder.pid", second / "responder.log")
    assert "Address already in use" in caplog.text
    assert "as a process of its own" in caplog.text
    wait_for(lambda: not runner.alive(second / "responder.pid"))
    assert http_get(ns) == "first\n"


def test_unreachable_zygote_falls_back_and_an_idle_one_exits(lab):
    runner, namespace, zygote = lab
    broken = zygote(timeout=0.5)
    broken.python = "/bin/false"  # the zygote cannot start at all
    broken.fallback = ProcessResponders(runner, sys.executable)
    ns, directory = namespace(0)
    broken.start(ns, "by-process", directory / "responder.pid", directory / "responder.log")
    wait_for(lambda: http_get(ns) == "by-process\n")

    idle = zygote(idle=1)
    ns2, directory2 = namespace(1)
    idle.start(ns2, "brief", directory2 / "responder.pid", directory2 / "responder.log")
    zpid = int(idle.pidfile.read_text())
    runner.kill(directory2 / "responder.pid")
    wait_for(lambda: not os.path.exists(f"/proc/{zpid}") or
             Path(f"/proc/{zpid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
    with contextlib.suppress(ChildProcessError):
        os.waitpid(zpid, 0)
    assert not idle.socket_path.exists()
