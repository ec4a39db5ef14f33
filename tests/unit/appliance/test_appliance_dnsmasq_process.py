"""`apply.dnsmasq.DnsmasqProcess.launch` with a tiny script as its binary."""

from __future__ import annotations

import subprocess

import pytest

from astara.appliance.apply import dnsmasq
from astara.appliance.apply.errors import ExitedAtStart


def script(tmp_path, body: str) -> str:
    path = tmp_path / "fake-dnsmasq"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o700)
    return str(path)


def test_a_start_refused_before_it_detached_is_exited_at_start_with_its_stderr(tmp_path):
    proc = dnsmasq.DnsmasqProcess()
    proc.binary = script(tmp_path, 'echo "bad option at line 2" >&2; exit 1')
    wait = proc.launch(tmp_path / "d.conf", tmp_path / "d.pid")
    with pytest.raises(ExitedAtStart, match="failed to start: bad option at line 2"):
        wait()


def test_an_interrupted_wait_kills_and_waits_for_what_it_launched(tmp_path, monkeypatch):
    launched: list[subprocess.Popen] = []

    class Interrupted(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            launched.append(self)

        def communicate(self, *args, **kwargs):
            raise KeyboardInterrupt

    monkeypatch.setattr(dnsmasq.subprocess, "Popen", Interrupted)
    proc = dnsmasq.DnsmasqProcess()
    proc.binary = script(tmp_path, "exec sleep 60")
    try:
        wait = proc.launch(tmp_path / "d.conf", tmp_path / "d.pid")
        with pytest.raises(KeyboardInterrupt):
            wait()
        assert launched[0].returncode == -9  # killed, and waited for (reaped)
    finally:
        for p in launched:
            if p.returncode is None:
                p.kill()
                p.wait()
