"""DHCPv6 end to end against a REAL neutron-server (29.0.0, tests/real_neutron_stack.py),
as root (issue 13): the scenario of tests/dhcpv6_world.py, with the networks, subnets,
router and ports made on Neutron (its IPAM allocates the stateful port's address from
the pool, the stateless one's by EUI-64) and the instances booted through our compute
API, which finds Neutron in the catalog."""

from __future__ import annotations

import os
import shutil
import time

import openstack
import pytest
from tests import dhcpv6_world, real_neutron_stack

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "rdisc6", "ping")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def test_dhcpv6_stateful_and_stateless_instances_on_real_neutron(real_neutron, capsys,
                                                                  monkeypatch):
    ports, state = real_neutron
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(state / "clouds.yaml"))
    admin = openstack.connect(cloud="astara-admin")
    user = openstack.connect(cloud="astara")
    rpc = f"http://127.0.0.1:{ports['rpc']}"

    def timed(what: str, t0: float) -> None:
        with capsys.disabled():
            print(f"\nreal Neutron {what}: {time.monotonic() - t0:.1f} s", end="")

    try:
        dhcpv6_world.exercise(
            admin, user, state,
            router_ready=lambda rid: real_neutron_stack.configured(state, rpc, rid),
            timed=timed, tag="rn6")
    except AssertionError as exc:
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted((state / "logs").glob("*.log")))
        raise AssertionError(f"{exc}\n{logs}") from None
