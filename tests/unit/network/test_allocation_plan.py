"""Which subnets a port's addresses come from (``allocation.plan_requests``), as tables.

Neutron's rule: every port but a router's interface gets its EUI-64 address on each
auto-address (SLAAC, DHCPv6-stateless) subnet of its network, whatever ``fixed_ips``
asks for; a router's interface gets only what it asks for.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from astara.network_service import errors
from astara.network_service.resources.allocation import plan_requests

MAC = "fa:16:3e:00:a1:01"


def _subnet(id_: str, cidr: str, mode: str | None = None, ra: str | None = None):
    return SimpleNamespace(id=id_, cidr=cidr, ip_version=6 if ":" in cidr else 4,
                           ipv6_address_mode=mode, ipv6_ra_mode=ra if ra else mode)


NET = SimpleNamespace(id="net", subnets=[
    _subnet("v4", "10.0.0.0/24"),
    _subnet("slaac", "2001:db8:a1::/64", "slaac"),
    _subnet("stateless", "2001:db8:a2::/64", "dhcpv6-stateless"),
    _subnet("ra-only", "2001:db8:a3::/64", None, ra="slaac"),
    _subnet("stateful", "2001:db8:a4::/64", "dhcpv6-stateful"),
])
AUTO = [("slaac", "2001:db8:a1:0:f816:3eff:fe00:a101"),
        ("stateless", "2001:db8:a2:0:f816:3eff:fe00:a101"),
        ("ra-only", "2001:db8:a3:0:f816:3eff:fe00:a101")]


def _plan(requested, owner=""):
    return [(sn.id, ip) for sn, ip in plan_requests(NET, requested, owner, MAC)]


@pytest.mark.parametrize("requested, owner, expected", [
    (None, "", [("v4", None), ("stateful", None), *AUTO]),
    (None, "network:router_gateway", [("v4", None), ("stateful", None), *AUTO]),
    ([{"subnet_id": "v4"}], "compute:nova", [("v4", None), *AUTO]),
    ([{"ip_address": "10.0.0.9"}], "", [("v4", "10.0.0.9"), *AUTO]),
    ([{"subnet_id": "slaac"}], "", AUTO),
    ([{"subnet_id": "slaac", "ip_address": AUTO[0][1]}], "", AUTO),  # its own, sent back
    ([{"subnet_id": "v4"}], "network:router_interface", [("v4", None)]),
    ([{"subnet_id": "slaac", "ip_address": "2001:db8:a1::"}], "network:router_interface",
     [("slaac", "2001:db8:a1::")]),
    (None, "network:router_interface", [("v4", None), ("stateful", None)]),
    # an HA router's member port (made with no fixed IP): no EUI-64 address either
    ([], "network:router_ha_interface", []),
    ([{"subnet_id": "v4", "ip_address": "10.0.0.1"}], "", [("v4", "10.0.0.1"), *AUTO]),
    # Neutron: a port with no owner may hold an IPv6 subnet's first address (for a router).
    ([{"subnet_id": "stateful", "ip_address": "2001:db8:a4::"}], "",
     [("stateful", "2001:db8:a4::"), *AUTO]),
])
def test_plan(requested, owner, expected):
    assert _plan(requested, owner) == expected


@pytest.mark.parametrize("requested, owner, error", [
    ([{"subnet_id": "slaac", "ip_address": "2001:db8:a1::5"}], "", "AllocationOnAutoAddressSubnet"),
    ([{"subnet_id": "stateful", "ip_address": "2001:db8:a4::"}], "compute:nova",
     "InvalidIpForSubnet"),
    ([{"ip_address": "10.0.0.255"}], "", "InvalidIpForNetwork"),
    ([{}], "", "InvalidInput"),
])
def test_refused(requested, owner, error):
    with pytest.raises(errors.NeutronError) as info:
        _plan(requested, owner)
    assert info.value.type == error


def test_fixed_ips_on_a_network_without_subnets_are_invalid_input():
    with pytest.raises(errors.InvalidInput, match="IP allocation requires subnets for network"):
        plan_requests(SimpleNamespace(id="n", subnets=[]), [{"ip_address": "10.0.0.2"}], "", MAC)
