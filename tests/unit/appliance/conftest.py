"""Fixtures: a fake-backed appliance holding the example router's four interfaces
(the example load balancer uses two of them)."""

import pytest
from _appliance_support import LINKS

from astara.appliance.apply.fakes import FakeDnsmasq, FakeHaproxy, FakeNetlink, FakeNft
from astara.appliance.converge import Appliance, Ports


@pytest.fixture
def netlink():
    return FakeNetlink(LINKS)


@pytest.fixture
def appliance(tmp_path, netlink):
    ports = Ports(netlink=netlink, nft=FakeNft(), dnsmasq=FakeDnsmasq(),
                  sysctl=lambda k, v: None, haproxy=FakeHaproxy())
    return Appliance("r1", None, tmp_path, 5000, ports)
