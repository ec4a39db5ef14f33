"""Which rebuilds evacuate a host: appliances by the key their metadata names (an HA
router's member 1 by its own key, as the orchestrator writes it), those being deleted
apart; which of them moved; which instance the orchestrator holds for a key."""

from __future__ import annotations

from astara.cli.compute_manage import plain_remote
from astara.compute_service.catalog import APPLIANCE_IMAGE, TENANT_IMAGE
from astara.compute_service.evacuation import (
    HA_MEMBER_SUFFIX,
    Plan,
    Rebuild,
    current_instance,
    moved,
    plan,
)
from astara.orchestrator.drivers import router_ha


def test_plan():
    got = plan([("i3", APPLIANCE_IMAGE, {"astara_loadbalancer_id": "lb1"}, None),
                ("i1", APPLIANCE_IMAGE, {"astara_router_id": "r1"}, None),
                ("i2", APPLIANCE_IMAGE, {"astara_router_id": "r1.ha1"}, None),  # member 1
                ("i0", APPLIANCE_IMAGE, {"astara_router_id": "r1"}, None),  # an old one
                ("i4", TENANT_IMAGE, {"astara_router_id": "r9"}, None),  # a tenant's claim
                ("i5", APPLIANCE_IMAGE, {}, None),  # nothing named
                ("i6", APPLIANCE_IMAGE, {"astara_router_id": 7}, None),  # not a string
                ("i7", APPLIANCE_IMAGE, {"astara_router_id": "r2"}, "deleting")])
    assert got == Plan((Rebuild("router", "r1", "i0"), Rebuild("router", "r1", "i1"),
                        Rebuild("router", "r1.ha1", "i2"),
                        Rebuild("loadbalancer", "lb1", "i3")), ("i4", "i5", "i6"), ("i7",))


def test_the_member_key_is_the_orchestrator_s():
    assert router_ha.member_id("r1") == "r1" + HA_MEMBER_SUFFIX
    assert Rebuild("router", "r1.ha1", "i").shown_id == "r1"
    assert Rebuild("router", "r1", "i").shown_id == "r1"


def test_current_instance():
    row = {"id": "r1", "instance_id": "i1",
           "ha": {"members": [{"member": 0, "instance_id": "i1"},
                              {"member": 1, "instance_id": "i2"}]}}
    assert current_instance(Rebuild("router", "r1", "i1"), row) == "i1"
    assert current_instance(Rebuild("router", "r1.ha1", "i2"), row) == "i2"
    assert current_instance(Rebuild("router", "r1.ha1", "i2"), {"instance_id": "i1"}) is None


def test_moved():
    keys = {("router", "here"): "a", ("router", "ok"): "b", ("router", "bad"): "x",
            ("router", "new"): "y"}
    rows = [("a", APPLIANCE_IMAGE, {"astara_router_id": "here"}, None, "h1", "active"),
            ("b", APPLIANCE_IMAGE, {"astara_router_id": "ok"}, "deleting", "h1", "active"),
            ("c", APPLIANCE_IMAGE, {"astara_router_id": "ok"}, None, "h2", "active"),
            ("d", APPLIANCE_IMAGE, {"astara_router_id": "bad"}, None, "", "error"),
            ("e", APPLIANCE_IMAGE, {"astara_router_id": "new"}, None, "h2", "building"),
            ("g", APPLIANCE_IMAGE, {"astara_router_id": "bad"}, None, "h1", "active"),
            ("f", TENANT_IMAGE, {"astara_router_id": "new"}, None, "h2", "active")]
    assert moved(keys, "h1", rows) == {("router", "here"): "here", ("router", "ok"): "active",
                                       ("router", "bad"): "error",
                                       ("router", "new"): "waiting"}


def test_nothing_to_do():
    assert plan([]) == Plan((), ())


def test_the_token_goes_in_clear_only_to_loopback():
    assert not plain_remote("http://127.0.0.1:44250")
    assert not plain_remote("http://[::1]:44250")
    assert not plain_remote("http://localhost:44250")
    assert not plain_remote("https://orch.example:44250")
    assert plain_remote("http://orch.example:44250")
    assert plain_remote("http://10.0.0.5:44250")
