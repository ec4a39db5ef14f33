"""``astara-dbsync`` creates and migrates the schema from an ini file (SQLite or PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from astara.db import migrate
from astara.db.engine import Database
from tests.integration.conftest import fresh_database

BIN = Path(sys.executable).parent


def run(conf: Path, *args: str) -> str:
    r = subprocess.run([str(BIN / "astara-dbsync"), "--config-file", str(conf), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_upgrade_downgrade_current(tmp_path):
    url = fresh_database(tmp_path)
    conf = tmp_path / "astara.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n[database]\nconnection = {url}\n")
    assert "empty" in run(conf, "current")
    assert f"revision {migrate.head()}" in run(conf, "upgrade")
    db = Database(url)
    tables = set(inspect(db.engine).get_table_names())
    assert {"net_networks", "net_subnets", "net_ports", "net_ip_allocations", "net_routers",
            "net_floatingips", "bus_outbox", "bus_cursors"} <= tables
    run(conf, "upgrade")  # idempotent
    assert run(conf, "current").strip() == migrate.head()
    run(conf, "downgrade", "base")
    assert "net_networks" not in set(inspect(db.engine).get_table_names())
    db.dispose()


def test_bad_command_line_is_explained(tmp_path):
    r = subprocess.run([str(BIN / "astara-dbsync"), "frobnicate"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert "invalid choice" in r.stderr
