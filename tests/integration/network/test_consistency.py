"""The fuzz suite's database checker finds the impossible rows it is meant to find."""

from __future__ import annotations

from datetime import datetime

import pytest

from astara.db import migrate
from astara.network_service import models as m
from tests.integration.conftest import make_settings
from tests.integration.network import consistency

T = datetime(2026, 1, 1)


def _std(**values):
    return {"created_at": T, "updated_at": T, "name": "", "description": "", "tags": [],
            **values}


@pytest.fixture
def db(tmp_path):
    database = migrate.open_database(make_settings(tmp_path).database)
    yield database
    database.dispose()


def _world(s) -> None:
    s.add(m.Network(**_std(id="net", project_id="p")))
    s.add(m.Network(**_std(id="ext", project_id="", external=True)))
    s.add(m.Subnet(**_std(id="sn", project_id="p", network_id="net", ip_version=6,
                          cidr="fd98::/64", gateway_ip="fd98::1", allocation_pools=[
                              {"start": "fd98::2", "end": "fd98::ff"}], dns_nameservers=[],
                          host_routes=[])))
    s.add(m.Port(**_std(id="port", project_id="p", network_id="net", mac_address="fa:16:3e:0:0:1",
                        allowed_address_pairs=[])))
    s.flush()


def test_a_sane_world_has_no_problems(db):
    with db.write() as s:
        _world(s)
        s.add(m.IPAllocation(port_id="port", subnet_id="sn", network_id="net",
                             ip_address="fd98::77"))
    with db.read() as s:
        assert consistency.problems(s) == []


def test_the_scoped_duplicate_the_fuzzer_found_is_reported(db):
    with db.write() as s:
        _world(s)
        s.add(m.Port(**_std(id="port2", project_id="p", network_id="net",
                            mac_address="fa:16:3e:0:0:2", allowed_address_pairs=[])))
        s.flush()
        s.add(m.IPAllocation(port_id="port", subnet_id="sn", network_id="net",
                             ip_address="fd98::77"))
        s.add(m.IPAllocation(port_id="port2", subnet_id="sn", network_id="net",
                             ip_address="fd98::77%a"))
    with db.read() as s:
        found = consistency.problems(s)
    assert any("not a normalised address" in p for p in found), found


@pytest.mark.parametrize("change, expected", [
    (lambda s: s.add(m.IPAllocation(port_id="port", subnet_id="sn", network_id="net",
                                    ip_address="10.0.0.5")), "outside its subnet"),
    (lambda s: s.add(m.IPAllocation(port_id="port", subnet_id="sn", network_id="ext",
                                    ip_address="fd98::5")), "recorded on network ext"),
    (lambda s: s.add(m.Router(**_std(id="r", project_id="p", gw_port_id="port", routes=[]))),
     "not on an external network"),
    (lambda s: s.add(m.FloatingIP(id="f", project_id="p", floating_network_id="ext",
                                  floating_port_id="port", floating_ip_address="1.2.3.4",
                                  created_at=T, updated_at=T, tags=[])),
     "is not its port's"),
])
def test_impossible_rows_are_reported(db, change, expected):
    with db.write() as s:
        _world(s)
        change(s)
    with db.read() as s:
        found = consistency.problems(s)
    assert any(expected in p for p in found), found
