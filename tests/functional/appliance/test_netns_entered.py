"""``astara.common.netns.entered``: the calling thread only enters, and always comes back.

The appliance agent's apply threads and the compute agent's sysctl writes share it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from topology import Topology

from astara.common.netns import entered
from astara.compute_service.agent.runner import CommandError, SubprocessRunner

pytestmark = [pytest.mark.functional]


def here() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


@pytest.fixture
def ns():
    work = Path(tempfile.mkdtemp(prefix="astara-enter-"))
    topo = Topology(work)
    try:
        yield topo.netns("enter")
    finally:
        topo.destroy()
        shutil.rmtree(work, ignore_errors=True)


def test_only_the_calling_thread_enters_and_it_comes_back(ns):
    home = here()
    inside, looked, other = threading.Event(), threading.Event(), []

    def neighbour() -> None:  # started before the switch: a thread of the same process
        inside.wait(10)
        other.append(here())
        looked.set()

    thread = threading.Thread(target=neighbour)
    thread.start()
    with entered(ns):
        target = here()
        assert target != home
        assert os.stat(f"/run/netns/{ns}").st_ino == target
        inside.set()
        assert looked.wait(10)
    thread.join()
    assert other == [home]  # the other thread stayed home
    assert here() == home


def test_it_comes_back_when_the_body_fails(ns):
    home = here()
    with pytest.raises(RuntimeError), entered(ns):
        raise RuntimeError("boom")
    assert here() == home


def test_a_missing_namespace_raises_and_nothing_moves():
    home = here()
    with pytest.raises(FileNotFoundError), entered("astara-no-such-netns"):
        pytest.fail("the body must not run")
    assert here() == home


def test_the_compute_runner_writes_sysctls_inside_the_namespace_only(ns):
    key = "net/ipv6/conf/all/forwarding"
    before = Path(f"/proc/sys/{key}").read_text().strip()
    runner = SubprocessRunner()
    wanted = "0" if before == "1" else "1"
    runner.sysctl(ns, {key.replace("/", "."): wanted})
    with entered(ns):
        assert Path(f"/proc/sys/{key}").read_text().strip() == wanted
    assert Path(f"/proc/sys/{key}").read_text().strip() == before
    with pytest.raises(CommandError):
        runner.sysctl("astara-no-such-netns", {key.replace("/", "."): wanted})
