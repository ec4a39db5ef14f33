"""The compute agent's start-up check against real interfaces, in a namespace of its own.

A namespace made here holds this agent's management bridge (its instance's port is
in the database), a bridge an "earlier run" left with the same address and a port,
and an operator's interface (a veth) holding it too: the check names the two others, one
line each, and the command it suggests does remove the stale one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import replace
from datetime import datetime

import pytest

from astara.common.settings import DatabaseSettings, sqlite_url
from astara.compute_service.agent.mgmt_conflict import check
from astara.compute_service.agent.runner import SubprocessRunner
from astara.compute_service.models import Instance
from astara.compute_service.settings import defaults as compute_defaults
from astara.db import migrate

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]
ADDR = "fdca:3ba5:a17a:acda::1/64"
MGMT_NET = "c0ffee00-0001-4000-8000-000000000001"  # its bridge: brqc0ffee000001


class InNetns(SubprocessRunner):
    """Every command the check runs, run inside the test's namespace instead."""

    def __init__(self, ns: str):
        self.ns = ns

    def run(self, argv, check=True, stdin=None):
        return super().run(["ip", "netns", "exec", self.ns, *argv], check, stdin)


@pytest.fixture
def ns():
    name = f"asttest-mgmt-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def ip(ns: str, *lines: str) -> None:
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True,
                   check=True, capture_output=True)


def test_other_holders_of_the_management_address_are_named(ns, tmp_path):
    ip(ns, "link add brqc0ffee000001 type bridge", "link add brqdeadbeef0001 type bridge",
       "link add v0 type veth peer name v1", "link set v0 master brqc0ffee000001",
       "link add v2 type veth peer name v3", "link set v2 master brqdeadbeef0001",
       "link add ops0 type veth peer name ops1",
       *(f"addr add {ADDR} dev {dev} nodad"
         for dev in ("brqc0ffee000001", "brqdeadbeef0001", "ops0")),
       *(f"link set {dev} up" for dev in ("brqc0ffee000001", "brqdeadbeef0001", "ops0")))
    db = migrate.open_database(DatabaseSettings(sqlite_url(tmp_path), auto_migrate=True))
    now = datetime(2026, 1, 1)
    with db.write() as s:
        s.add(Instance(id="11111111-0000-4000-8000-000000000001", project_id="p", name="a",
                       host="here", flavor_id="f", image_id="i", created_at=now,
                       updated_at=now, ports=[{"port_id": "p1", "net_id": MGMT_NET,
                                               "network_name": "astara-mgmt",
                                               "management": True}]))
    compute = replace(compute_defaults(), host="here", management_host_address=ADDR)
    runner = InNetns(ns)
    try:
        stale, theirs = check(db, runner, compute)
        assert "bridge brqdeadbeef0001 (with 1 port: left by an earlier run?)" in stale
        assert "interface ops0 (not Astara's)" in theirs
        # The advice works, and only what it names goes.
        subprocess.run(["ip", "-n", ns, *stale.split("ip ", 1)[1].split()], check=True)
        assert [line.split(" dev ")[-1] for line in check(db, runner, compute)] == \
            ["ops0"]
    finally:
        db.dispose()
