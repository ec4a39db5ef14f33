"""The announcer's timer thread, first started by an apply inside an appliance's
namespace, lives in the agent's own namespace: it must not hold a deleted appliance's
namespace alive. As root; the namespace is removed even on failure."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading

import pytest
from tests.support import wait_for

from astara.appliance.apply.announce import Announcer
from astara.appliance.plan.announce import Announcement
from astara.common.netns import entered

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]


def test_the_timer_thread_goes_back_to_the_agents_namespace():
    ns = f"astara-test-ann-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "ann0", "type", "veth",
                        "peer", "name", "ann1"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "ann0", "up"], check=True)
        announcer = Announcer(count=3, interval=0.05)
        sent = threading.Event()

        def apply() -> None:
            with entered(ns):
                announcer([Announcement("ann0", "192.0.2.7", "02:00:00:00:00:01")])
            sent.set()

        worker = threading.Thread(target=apply)
        worker.start()
        worker.join()
        assert sent.is_set()
        timer = next(t for t in threading.enumerate() if t.name == "announce")
        home = os.readlink("/proc/thread-self/ns/net")
        wait_for(lambda: os.readlink(f"/proc/self/task/{timer.native_id}/ns/net") == home,
                 what="the announce thread in the agent's namespace")
        wait_for(lambda: announcer.pending() == 0, what="the later copies sent")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
