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
from astara.network_service.models import Network

MGMT_NET = "c0ffee00-0002-4000-8000-00000000000b"
TENANT_NET = "c0ffee00-0003-4000-8000-00000000000c"


def port(n: int, net_id: str, name: str, **extra) -> dict:
    return {"port_id": f"0a1b2c3d-0000-4000-8000-00000000000{n}", "net_id": net_id,
            "network_name": name, "mac_address": f"fa:16:3e:00:00:0{n}", "fixed_ips": [],
            "owned": True, **extra}


def _world(tmp_path, networks: list[tuple[str, str, str]], rows: dict) -> dict:
    """A database at g001 holding ``networks`` (id, name, owner) and the instances
    ``rows`` (id -> (project, image, ports)), then upgraded: each instance's flags."""
    db = Database(fresh_database(tmp_path))
    migrate.upgrade(db.engine, "g001")
    t = datetime(2026, 12, 1)
    with Session(db.engine) as s, s.begin():
        for net_id, name, owner in networks:
            s.add(Network(id=net_id, name=name, project_id=owner, created_at=t, updated_at=t))
        s.flush()
        for id_, (project, image, ports) in rows.items():
            s.add(Instance(id=id_, project_id=project, name=id_[-1], host="h",
                           flavor_id="42", image_id=image, ports=ports, created_at=t,
                           updated_at=t))
    migrate.upgrade(db.engine)
    with Session(db.engine) as s:
        got = {i.id[-1]: [p["management"] for p in i.ports]
               for i in s.query(Instance).all()}
    migrate.downgrade(db.engine, "g001")  # leaves the flag: older code ignores it
    db.dispose()
    return got


def _appliance(n: int, *ports: dict, project: str = "svc") -> tuple[str, tuple]:
    return f"11111111-0000-4000-8000-00000000000{n}", (project, catalog.APPLIANCE_IMAGE,
                                                      list(ports))


def test_old_ports_are_flagged_from_our_records(tmp_path):
    rows = dict([
        # an appliance: eth0 on the management network, eth1 on a tenant network whose
        # stored name says astara-mgmt (a tenant wrote it): stays false
        _appliance(1, port(1, MGMT_NET, "astara-mgmt"), port(2, TENANT_NET, "astara-mgmt")),
        # a tenant's server whose first port's stored name is the management one
        ("11111111-0000-4000-8000-000000000002",
         ("tenant", catalog.TENANT_IMAGE, [port(3, TENANT_NET, "astara-mgmt")])),
        # an appliance whose first port is elsewhere
        _appliance(3, port(4, TENANT_NET, "tenant"), port(5, MGMT_NET, "astara-mgmt")),
        # already flagged: left as it is
        _appliance(4, port(6, MGMT_NET, "astara-mgmt", management=False)),
        _appliance(5),
        # the appliance image in another project than the network's owner (a member
        # could boot it before the image was admin-only)
        _appliance(6, port(7, MGMT_NET, "astara-mgmt"), project="tenant"),
    ])
    got = _world(tmp_path, [(MGMT_NET, "astara-mgmt", "svc"),
                            (TENANT_NET, "tenant-net", "tenant")], rows)
    assert got == {"1": [True, False], "2": [False], "3": [False, False], "4": [False],
                   "5": [], "6": [False]}


def test_nothing_is_flagged_when_our_records_cannot_tell(tmp_path):
    rows = dict([_appliance(1, port(1, MGMT_NET, "astara-mgmt"))])
    # a tenant's network named like the management one beside the real one: which is
    # which is not guessed
    two = _world(tmp_path / "two", [(MGMT_NET, "astara-mgmt", "svc"),
                                    (TENANT_NET, "astara-mgmt", "tenant")], rows)
    # a real Neutron's cloud: no network of ours at all
    none = _world(tmp_path / "none", [], rows)
    assert two == none == {"1": [False]}
