"""``astara-dbsync`` creates and migrates the schema from an ini file (SQLite or PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from astara.db import migrate
from astara.db.engine import Database
from astara.network_service import models as m
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
            "net_floatingips", "net_byonfs", "bus_outbox", "bus_cursors"} <= tables
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


def test_router_ports_are_backfilled_from_the_routers_records(tmp_path):
    """0003 carries over gateways (gw_port_id), same-project interfaces and management
    ports; a port of another project naming the router is not made an interface."""
    db = Database(fresh_database(tmp_path))
    migrate.upgrade(db.engine, "0002")
    t = datetime(2026, 12, 1)
    std = {"created_at": t, "updated_at": t}

    def port(id_: str, project: str, owner: str, device_id: str) -> m.Port:
        return m.Port(id=id_, project_id=project, network_id="net", mac_address=f"fa:16:{id_}",
                      device_owner=owner, device_id=device_id, **std)

    with Session(db.engine) as s, s.begin():
        s.add(m.Network(id="net", project_id="p", **std))
        s.flush()
        s.add_all([
            port("gw", "", "network:router_gateway", "r1"),
            port("if", "p", "network:router_interface", "r1"),
            port("forged", "q", "network:router_interface", "r1"),
            port("mgmt", "admin", "network:astara_management", "r1"),
            port("orphan", "p", "network:router_interface", "gone"),
            port("vm", "p", "compute:nova", "r1"),
        ])
        s.flush()
        s.add(m.Router(id="r1", project_id="p", gw_port_id="gw", **std))
    migrate.upgrade(db.engine)
    with db.engine.connect() as conn:
        rows = set(conn.execute(select(m.RouterPort.router_id, m.RouterPort.port_id,
                                       m.RouterPort.port_type)))
    assert rows == {("r1", "gw", "network:router_gateway"),
                    ("r1", "if", "network:router_interface"),
                    ("r1", "mgmt", "network:astara_management")}
    migrate.downgrade(db.engine, "0002")
    assert "net_router_ports" not in set(inspect(db.engine).get_table_names())
    migrate.upgrade(db.engine)
    assert migrate.current(db.engine) == migrate.head()
    db.dispose()
