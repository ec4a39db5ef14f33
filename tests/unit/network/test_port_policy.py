"""Neutron's device_owner policy and the router-interface device_id rule, as pure tables."""

from __future__ import annotations

import pytest

from astara.network_service.port_policy import device_owner_allowed, names_foreign_router


@pytest.mark.parametrize(("owner", "admin", "owns", "allowed"), [
    ("", False, False, True),
    ("compute:nova", False, False, True),
    ("network:router_interface", False, True, True),
    ("network:dhcp", False, True, True),
    ("network:router_interface", False, False, False),
    ("network:dhcp", False, False, False),
    ("network:router_gateway", False, True, False),
    ("network:floatingip", False, True, False),
    ("network:astara_management", False, True, False),
    ("network:router_ha_interface", False, True, False),
    ("network:router_gateway", True, False, True),
    ("network:astara_management", True, False, True),
])
def test_device_owner_policy(owner, admin, owns, allowed):
    assert device_owner_allowed(owner, is_admin=admin, owns_network=owns) is allowed


@pytest.mark.parametrize(("owner", "device_id", "router_project", "foreign"), [
    ("network:router_interface", "r", "a", True),
    ("network:ha_router_replicated_interface", "r", "a", True),
    ("network:router_interface_distributed", "r", "a", True),
    ("network:router_interface", "r", "b", False),  # the port's own project's router
    ("network:router_interface", "r", None, False),  # names no router: a label
    ("network:router_interface", "", "a", False),
    ("compute:nova", "r", "a", False),  # any other owner may name anything
    ("network:dhcp", "r", "a", False),
])
def test_router_interface_device_id(owner, device_id, router_project, foreign):
    assert names_foreign_router(owner, device_id, "b", router_project) is foreign
