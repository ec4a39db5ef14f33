"""Neutron's device_owner policy and the router-interface device_id rule, as pure tables."""

from __future__ import annotations

import pytest

from astara.network_service.port_policy import (
    device_owner_allowed,
    names_foreign_router,
    refused_attribute,
)


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


# (action, request, admin, owns network, rule broken or None)
ATTRIBUTE_POLICY = [
    ("create", {"allowed_address_pairs": [{"ip_address": "10.0.0.5"}]}, False, False,
     "create_port:allowed_address_pairs"),
    ("create", {"port_security_enabled": False}, False, False,
     "create_port:port_security_enabled"),
    ("create", {"fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]}, False, False,
     "create_port:fixed_ips:ip_address"),
    ("create", {"fixed_ips": [{"subnet_id": "s"}]}, False, False, None),
    ("create", {"mac_address": "fa:16:3e:00:00:01"}, False, False, "create_port:mac_address"),
    # Defaults filled in by the parser are not the caller's choice.
    ("create", {"allowed_address_pairs": [], "port_security_enabled": True}, False, False, None),
    ("create", {"allowed_address_pairs": [{"ip_address": "10.0.0.5"}],
                "port_security_enabled": False, "mac_address": "fa:16:3e:00:00:01",
                "fixed_ips": [{"ip_address": "10.0.0.5"}]}, False, True, None),
    ("create", {"port_security_enabled": False, "mac_address": "fa:16:3e:00:00:01"},
     True, False, None),
    ("update", {"allowed_address_pairs": []}, False, False, "update_port:allowed_address_pairs"),
    ("update", {"port_security_enabled": True}, False, False, "update_port:port_security_enabled"),
    ("update", {"fixed_ips": [{"ip_address": "10.0.0.5"}]}, False, False,
     "update_port:fixed_ips:ip_address"),
    ("update", {"fixed_ips": [{"subnet_id": "s"}]}, False, False, None),
    ("update", {"mac_address": "fa:16:3e:00:00:01"}, False, True, "update_port:mac_address"),
    ("update", {"mac_address": "fa:16:3e:00:00:01"}, True, False, None),
    ("update", {"allowed_address_pairs": [{"ip_address": "10.0.0.5"}],
                "port_security_enabled": False}, False, True, None),
    ("update", {"name": "x", "device_id": "d"}, False, False, None),
]


@pytest.mark.parametrize(("action", "data", "admin", "owns", "rule"), ATTRIBUTE_POLICY)
def test_attribute_policy(action, data, admin, owns, rule):
    assert refused_attribute(action, data, is_admin=admin, owns_network=owns) == rule
