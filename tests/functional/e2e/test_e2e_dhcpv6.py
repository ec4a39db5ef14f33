"""DHCPv6 end to end on the embedded network service, as root (issue 13): an instance
on a ``dhcpv6-stateful`` subnet leases, with a real ``dhclient -6``, exactly the address
the network API allocated to its port and reaches an IPv6 upstream through the router;
one on a ``dhcpv6-stateless`` subnet forms its address by SLAAC and learns the subnet's
DNS servers by information-request, and a change of them by its next request. The
scenario is tests/dhcpv6_world.py (the real Neutron runs it too)."""

from __future__ import annotations

import os
import shutil
import time
import uuid

import pytest
from tests import dhcpv6_world

from astara.burnin.scenario import Options, connection

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "rdisc6", "ping")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def test_dhcpv6_stateful_and_stateless_instances_on_the_embedded_service(aio, capsys):
    ports, state = aio
    run = uuid.uuid4().hex[:6]
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    admin = connection(o, f"d6-admin-{run}", admin=True)
    user = connection(o, f"d6-user-{run}", admin=False)

    def timed(what: str, t0: float) -> None:
        with capsys.disabled():
            print(f"\nembedded {what}: {time.monotonic() - t0:.1f} s", end="")

    try:
        dhcpv6_world.exercise(
            admin, user, state,
            router_ready=lambda rid: user.network.get_router(rid).status == "ACTIVE",
            timed=timed, tag=f"d6{run[:4]}")
    except AssertionError as exc:
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted((state / "logs").glob("*.log")))
        raise AssertionError(f"{exc}\n{logs}") from None
