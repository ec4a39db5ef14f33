"""m001 fills the ``management`` flag of ports stored before it, from our records only
(SQLite, or PostgreSQL with ASTARA_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from tests.integration.conftest import fresh_database

from astara.compute_service import catalog
from astara.compute_service.models import Instance
from astara.db import migrate
from astara.db.engine import Database

MGMT_NET = "c0ffee00-0002-4000-8000-00000000000b"
TENANT_NET = "c0ffee00-0003-4000-8000-00000000000c"


def port(n: int, net_id: str, name: str, **extra) -> dict:
    return {"port_id": f"0a1b2c3d-0000-4000-8000-00000000000{n}", "net_id": net_id,
            "network_name": name, "mac_address": f"fa:16:3e:00:00:0{n}", "fixed_ips": [],
            "owned": True, **extra}


def test_old_ports_are_flagged_from_our_records(tmp_path):
    db = Database(fresh_database(tmp_path))
    migrate.upgrade(db.engine, "g001")
    t = datetime(2026, 12, 1)
    rows = {
        # an appliance: eth0 on the management network, eth1 on a tenant network a
        # tenant called like it (the attack: stays false)
        "11111111-0000-4000-8000-000000000001": (catalog.APPLIANCE_IMAGE, [
            port(1, MGMT_NET, "astara-mgmt"), port(2, TENANT_NET, "astara-mgmt")]),
        # a tenant's server whose first port is on its own network named like it
        "11111111-0000-4000-8000-000000000002": (catalog.TENANT_IMAGE, [
            port(3, TENANT_NET, "astara-mgmt")]),
        # an appliance whose first port is elsewhere (not the management network)
        "11111111-0000-4000-8000-000000000003": (catalog.APPLIANCE_IMAGE, [
            port(4, TENANT_NET, "tenant"), port(5, MGMT_NET, "astara-mgmt")]),
        # already flagged: left as it is
        "11111111-0000-4000-8000-000000000004": (catalog.APPLIANCE_IMAGE, [
            port(6, MGMT_NET, "astara-mgmt", management=False)]),
        "11111111-0000-4000-8000-000000000005": (catalog.APPLIANCE_IMAGE, []),
    }
    with Session(db.engine) as s, s.begin():
        for id_, (image, ports) in rows.items():
            s.add(Instance(id=id_, project_id="p", name=id_[-1], host="h", flavor_id="42",
                           image_id=image, ports=ports, created_at=t, updated_at=t))
    migrate.upgrade(db.engine)
    with Session(db.engine) as s:
        got = {i.id[-1]: [p["management"] for p in i.ports]
               for i in s.query(Instance).all()}
        kept = s.get(Instance, "11111111-0000-4000-8000-000000000001").ports[1]
    assert got == {"1": [True, False], "2": [False], "3": [False, False], "4": [False],
                   "5": []}
    assert kept == {**port(2, TENANT_NET, "astara-mgmt"), "management": False}
    migrate.downgrade(db.engine, "g001")  # leaves the flag: older code ignores it
    db.dispose()
