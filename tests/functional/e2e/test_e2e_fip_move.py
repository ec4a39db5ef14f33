"""End to end, as root: a floating IP MOVED between ports on our own network API
(astara-aio): the scenario of tests/fip_world.py (its run against a real neutron-server
is in test_e2e_real_neutron.py, which shares that stack between its tests).
"""

from __future__ import annotations

import os
import shutil

import pytest
from tests.fip_world import move_floating_ip, printer

from astara.burnin.scenario import Options, connection

NEEDED = ("ip", "nft", "dnsmasq", "dhclient", "ping", "curl")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def test_a_floating_ip_moves_between_ports_on_our_network_api(aio, capsys):
    ports, state = aio
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    move_floating_ip(connection(o, "fm-admin", True), connection(o, "fm-user", False),
                     state, f"http://127.0.0.1:{ports['rpc']}", "fme", printer(capsys))
