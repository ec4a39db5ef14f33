"""Which rebuilds evacuate a host: appliances by the resource their metadata names."""

from __future__ import annotations

from astara.compute_service.catalog import APPLIANCE_IMAGE, TENANT_IMAGE
from astara.compute_service.evacuation import Plan, Rebuild, plan


def test_plan():
    got = plan([("i3", APPLIANCE_IMAGE, {"astara_loadbalancer_id": "lb1"}),
                ("i1", APPLIANCE_IMAGE, {"astara_router_id": "r1"}),
                ("i2", APPLIANCE_IMAGE, {"astara_router_id": "r1"}),  # its HA peer
                ("i4", TENANT_IMAGE, {"astara_router_id": "r9"}),  # a tenant's claim
                ("i5", APPLIANCE_IMAGE, {}),  # nothing named
                ("i6", APPLIANCE_IMAGE, {"astara_router_id": 7})])  # not a string
    assert got == Plan((Rebuild("router", "r1", "i1"),
                        Rebuild("loadbalancer", "lb1", "i3")), ("i4", "i5", "i6"))


def test_nothing_to_do():
    assert plan([]) == Plan((), ())
