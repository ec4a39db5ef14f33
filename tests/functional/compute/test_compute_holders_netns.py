"""Several holders of the management network, as root: three "hosts" as network
namespaces on one underlay bridge (in a fourth namespace), the backend run inside
each as its agent would (``vxlan_host.py``), one shared SQLite database.

Hosts a and b are holders (``management_address_host = a,b``), each with its own
management address and the shared metadata address; an appliance runs on c. Each
holder reaches the appliance from its own address, the appliance reaches the
metadata address through a (first by name), and when a fails (its underlay link down,
its heartbeat stale) c's next sync moves the pin to b and the metadata address is
reached through b. A tenant instance on c, on a network of its own named like the
management network, with an address of the management prefix, reaches none of the
management addresses. Every name carries a random tag; everything is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import timedelta

import pytest
from test_compute_vxlan_netns import MGMT_PREFIX, UNDERLAY, Lab, addresses, ping, sh
from vxlan_host import prefixes

from astara.compute_service import catalog, jobs
from astara.compute_service.agent import neighbours
from astara.compute_service.models import Host

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("ip", "bridge", "ping")),
                       reason="needs iproute2 and ping"),
]
OWN = {"a": MGMT_PREFIX + "1/64", "b": MGMT_PREFIX + "2/64", "c": MGMT_PREFIX + "3/64"}
METADATA = MGMT_PREFIX + "5"
APPLIANCE = MGMT_PREFIX + "10"


class ThreeHosts(Lab):
    def __init__(self, tmp):
        super().__init__(tmp)
        self.hosts = {h: f"avh-{self.tag}-{h}" for h in "abc"}
        self.underlay = {**UNDERLAY, "c": "192.0.2.3"}
        self.switch = f"avh-{self.tag}-u"

    def up(self) -> None:
        """Each host namespace's ``under0`` on one bridge in the switch namespace."""
        self.namespaces.append(self.switch)
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "sw0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "sw0", "up")
        for h, ns in self.hosts.items():
            self.namespaces.append(ns)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "add", "under0", "type", "veth", "peer", "name",
               f"p{h}", "netns", self.switch)
            sh("ip", "-n", self.switch, "link", "set", f"p{h}", "master", "sw0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.underlay[h]}/24", "dev", "under0")
            sh("ip", "-n", ns, "link", "set", "under0", "up")

    def prefix(self, host: str) -> str:
        return prefixes(self.tag, self.hosts[host])["bridge_prefix"]

    def mgmt(self, host: str, name: str) -> dict:
        return {"management_network": name, "management_host_address": OWN[host],
                "management_address_host": f"{self.hosts['a']},{self.hosts['b']}",
                "management_metadata_address": METADATA}


@pytest.fixture
def three(tmp_path):
    lab = ThreeHosts(tmp_path)
    try:
        lab.up()
        yield lab
    finally:
        lab.cleanup()
        left = sh("ip", "netns", "list").stdout
        assert lab.tag not in left, left


def pinned(ns: str, address: str) -> str | None:
    """The MAC ``address`` is pinned to (PERMANENT) in ``ns``, else None."""
    out = sh("ip", "-j", "-n", ns, "neigh", "show", "nud", "permanent").stdout
    return next((e["lladdr"] for e in json.loads(out or "[]") if e.get("dst") == address),
                None)


def ping_from(ns: str, source: str, address: str, count: int = 3) -> bool:
    r = sh("ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", str(count), "-W", "2",
           "-i", "0.2", "-I", source, address, check=False)
    return r.returncode == 0


def test_two_holders_reach_an_appliance_and_the_metadata_pin_moves_when_one_fails(three):
    lab, name = three, f"mgmt-{three.tag}"
    mgmt_net, tenant_net = str(uuid.uuid4()), str(uuid.uuid4())
    appliance = lab.instance("c", mgmt_net, APPLIANCE, 64, network_name=name,
                             image_id=catalog.APPLIANCE_IMAGE, security=True, management=True)
    tenant = lab.instance("c", tenant_net, MGMT_PREFIX + "20", 64, profile="tenant",
                          network_name=name, image_id=catalog.TENANT_IMAGE, security=True)
    for h in "abc":  # the holders claim their addresses
        assert lab.drive(h, "beat", mgmt=lab.mgmt(h, name))["refused"] is None
    with lab.db.read() as s:
        claimed = {h: s.get(Host, lab.hosts[h]).management_address for h in "abc"}
    assert claimed == {"a": MGMT_PREFIX + "1", "b": MGMT_PREFIX + "2", "c": None}
    lab.drive("c", "create", appliance, mgmt=lab.mgmt("c", name))
    lab.drive("c", "plug", tenant, mgmt=lab.mgmt("c", name))
    sh("ip", "-n", tenant["ns"], "addr", "add", MGMT_PREFIX + "20/64", "dev", "eth0", "nodad")
    for h in "ab":  # c is a peer now; each holder pins the appliance on its bridge
        synced = lab.drive(h, "beat", mgmt=lab.mgmt(h, name))["synced"]
        mac = appliance["ports"][0]["mac_address"]
        assert f"neigh replace {APPLIANCE} lladdr {mac} dev " in " ".join(synced), synced

    bridge = (lab.prefix("a") + mgmt_net.replace("-", ""))[:15]
    mac = {h: neighbours.holder_mac(OWN[h]) for h in "ab"}
    for h in "ab":  # each holder: its own address, its own MAC, the metadata address
        link = json.loads(sh("ip", "-j", "-n", lab.hosts[h], "link", "show", bridge).stdout)
        assert link[0]["address"] == mac[h]
        assert sorted(addresses(lab.hosts[h], bridge)) == sorted([OWN[h][:-3], METADATA])
    assert addresses(lab.hosts["c"], (lab.prefix("c") + mgmt_net.replace("-", ""))[:15]) \
        == []
    # the appliance pins both holders, and the metadata address to a (first by name),
    # before it ever sends to them: no neighbour solicitation crosses the tunnel
    ns = appliance["ns"]
    assert pinned(ns, MGMT_PREFIX + "1") == mac["a"]
    assert pinned(ns, MGMT_PREFIX + "2") == mac["b"]
    assert pinned(ns, METADATA) == mac["a"]

    for h in "ab":  # each holder reaches the appliance from its own address
        assert ping_from(lab.hosts[h], OWN[h][:-3], APPLIANCE), h
    assert ping(ns, METADATA) and ping(ns, MGMT_PREFIX + "1") and ping(ns, MGMT_PREFIX + "2")

    # a fails: its underlay goes, its heartbeat goes stale; c's next sync moves the pin
    sh("ip", "-n", lab.hosts["a"], "link", "set", "under0", "down")
    with lab.db.write() as s:
        s.get(Host, lab.hosts["a"]).updated_at = jobs.now() - timedelta(hours=1)
    lab.drive("b", "beat", mgmt=lab.mgmt("b", name))
    moved = lab.drive("c", "beat", mgmt=lab.mgmt("c", name))["synced"]
    assert any(f"neigh replace {METADATA} lladdr {mac['b']}" in line for line in moved), moved
    assert pinned(ns, METADATA) == mac["b"]
    assert pinned(ns, MGMT_PREFIX + "1") is None  # a is no holder to count on now
    assert ping(ns, METADATA)  # through b
    assert ping_from(lab.hosts["b"], OWN["b"][:-3], APPLIANCE)

    # the tenant reaches none of the management addresses (a check of the test's
    # layout, not of the pins: the tenant's network is not tunnelled)
    for address in (MGMT_PREFIX + "1", MGMT_PREFIX + "2", METADATA, APPLIANCE):
        assert not ping(tenant["ns"], address, count=2), address


def test_a_second_host_claiming_a_holders_address_is_refused_and_holds_nothing(three):
    lab, name = three, f"mgmt-{three.tag}"
    mgmt_net = str(uuid.uuid4())
    appliance = lab.instance("c", mgmt_net, APPLIANCE, 64, network_name=name,
                             image_id=catalog.APPLIANCE_IMAGE, management=True)
    assert lab.drive("a", "beat", mgmt=lab.mgmt("a", name))["refused"] is None
    same = {**lab.mgmt("b", name), "management_host_address": OWN["a"]}
    refused = lab.drive("b", "beat", mgmt=same)["refused"]
    assert refused.startswith(f"management_host_address {OWN['a']} is claimed by host "
                              f"'{lab.hosts['a']}'"), refused
    lab.drive("c", "beat", mgmt=lab.mgmt("c", name))
    lab.drive("c", "create", appliance, mgmt=lab.mgmt("c", name))
    lab.drive("b", "beat", mgmt=same)
    lab.drive("a", "beat", mgmt=lab.mgmt("a", name))  # c is a peer now
    held = json.loads(sh("ip", "-j", "-n", lab.hosts["b"], "addr", "show").stdout)
    assert not [a for link in held for a in link.get("addr_info", ())
                if a.get("local") == MGMT_PREFIX + "1"]  # b holds nothing
    assert ping(appliance["ns"], MGMT_PREFIX + "1")  # a alone answers for it
