"""``astara-netns-cleanup --force`` stops what runs in a namespace before removing it:
SIGTERM, then SIGKILL for what ignores it."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import psutil
import pytest
from tests.support import wait_for

from astara.cli import netns_cleanup

pytestmark = [pytest.mark.functional]


def sleepers_in(ns: str) -> list[psutil.Process]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    found = []
    for pid in out.split():
        try:
            proc = psutil.Process(int(pid))
            if proc.name() == "sleep":
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def test_processes_inside_are_stopped_and_the_namespace_removed(capsys):
    prefix = f"ancl-{secrets.token_hex(3)}-"
    ns = prefix + "0"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    started: list[subprocess.Popen] = []
    try:
        for script in ("exec sleep 60", "trap '' TERM; exec sleep 60"):  # polite, stubborn
            started.append(subprocess.Popen(["ip", "netns", "exec", ns, "sh", "-c", script]))
        inside = wait_for(lambda: len(sleepers_in(ns)) == 2 and sleepers_in(ns),
                          what="both sleepers in the namespace")
        assert netns_cleanup.main(["--force", "--prefix", prefix,
                                   "--bridge-prefix", prefix.replace("-", "")]) == 0
        assert f"namespace {ns}" in capsys.readouterr().out
        for proc in started:
            proc.wait(10)
        assert not [p for p in inside if p.is_running()]
        assert not Path(f"/run/netns/{ns}").exists()
    finally:
        for proc in started:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_bridge_whose_ports_went_with_the_namespaces_is_removed(capsys):
    # The kernel removes a deleted namespace's veths later, in a work queue: a bridge
    # checked at once still has ports, and a management bridge kept its address.
    tag = secrets.token_hex(3)
    prefix, br = f"ancl-{tag}-", f"brqt{tag}"
    names = [f"{prefix}{i}" for i in range(8)]
    subprocess.run(["ip", "link", "add", br, "type", "bridge"], check=True)
    try:
        batch = "".join(f"netns add {ns}\nlink add tq{tag}{i} type veth peer name eth0 "
                        f"netns {ns}\nlink set tq{tag}{i} master {br}\n"
                        for i, ns in enumerate(names))
        subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
        assert netns_cleanup.main(["--force", "--prefix", prefix, "--bridge-prefix", br]) == 0
        assert f"bridge {br}" in capsys.readouterr().out
        assert not Path(f"/sys/class/net/{br}").exists()
    finally:
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", br], capture_output=True)
