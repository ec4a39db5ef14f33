"""L2 between two hosts over VXLAN, as root: each "host" is a network namespace, the two
joined by an underlay veth pair; the backend runs inside each (``vxlan_host.py`` under
``ip netns exec``) on one shared SQLite database, as two agents would.

Network 1 has an instance on each host, network 2 too, all four in one subnet: the
two of a network ping each other across the tunnel, never those of the other network
(another VNI). A vxlan device detached by hand is set on its bridge again by the
next plug. A host that stops beating is dropped from its peer's flood entries and
comes back when it beats again; the vxlan device goes with its bridge. Every name
carries a random tag; everything is removed, on failure too.

The management network across hosts: host a holds the management address (it has no
appliance), an appliance on host b and the holder reach each other across the tunnel;
a tenant instance on b, on a network of its own named like the management network,
with an address of the management prefix, reaches neither.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from vxlan_host import prefixes

from astara.common.settings import DatabaseSettings, sqlite_url
from astara.compute_service import catalog, jobs
from astara.compute_service.agent import neighbours, vxlan
from astara.compute_service.models import Host, Instance
from astara.db import migrate

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("ip", "bridge", "ping")),
                       reason="needs iproute2 and ping"),
]
DRIVER = Path(__file__).with_name("vxlan_host.py")
UNDERLAY = {"a": "192.0.2.1", "b": "192.0.2.2"}  # TEST-NET-1, inside the namespaces only


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


class Lab:
    def __init__(self, tmp: Path):
        self.tag = secrets.token_hex(2)
        self.tmp = tmp
        self.hosts = {h: f"avh-{self.tag}-{h}" for h in "ab"}
        self.underlay = dict(UNDERLAY)
        self.namespaces: list[str] = []
        self.db_url = sqlite_url(tmp)
        self.db = migrate.open_database(DatabaseSettings(self.db_url, auto_migrate=True))

    def up(self) -> None:
        """Two host namespaces joined by an underlay veth pair with addresses."""
        for ns in self.hosts.values():
            self.namespaces.append(ns)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        a, b = self.hosts["a"], self.hosts["b"]
        sh("ip", "-n", a, "link", "add", "under0", "type", "veth", "peer", "name", "under0",
           "netns", b)
        for h, ns in self.hosts.items():
            sh("ip", "-n", ns, "addr", "add", f"{UNDERLAY[h]}/24", "dev", "under0")
            sh("ip", "-n", ns, "link", "set", "under0", "up")

    def drive(self, host: str, op: str, spec: dict | None = None,
              mgmt: dict | None = None) -> dict:
        args = {"db": self.db_url, "host": self.hosts[host], "tunnel": self.underlay[host],
                "state": str(self.tmp / host), "tag": self.tag, "op": op, "spec": spec,
                "mgmt": mgmt}
        r = subprocess.run(["ip", "netns", "exec", self.hosts[host], sys.executable,
                            str(DRIVER), json.dumps(args)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    def instance(self, host: str, net_id: str, address: str, prefixlen: int = 24,
                 profile: str = "appliance", network_name: str = "n",
                 image_id: str = "i", security: bool = False,
                 management: bool = False) -> dict:
        """A stored instance on ``host`` (an appliance's eth0 gets ``address``), and
        its namespace made from here: one made inside ``ip netns exec`` would live only
        in that command's mount namespace."""
        iid = str(uuid.uuid4())
        port = {"port_id": str(uuid.uuid4()), "net_id": net_id, "network_name": network_name,
                "mac_address": "fa:16:3e:" + os.urandom(3).hex(":"),
                "fixed_ips": [{"subnet_id": "s", "ip_address": address,
                               "prefixlen": prefixlen}],
                "port_security_enabled": security, "management": management}
        now = jobs.now()
        with self.db.write() as s:
            s.add(Instance(id=iid, project_id="p", name=iid, host=self.hosts[host],
                           flavor_id="f", image_id=image_id, created_at=now, updated_at=now,
                           ports=[port]))
        ns = prefixes(self.tag, self.hosts[host])[
            "appliance_netns_prefix" if profile == "appliance" else "netns_prefix"] + iid
        self.namespaces.append(ns)
        sh("ip", "netns", "add", ns)
        return {"id": iid, "name": iid, "profile": profile, "ports": [port], "ns": ns}

    def vx_links(self, host: str) -> dict[str, int]:
        out = sh("ip", "-d", "-j", "-n", self.hosts[host], "link", "show", "type",
                 "vxlan").stdout
        return {link["ifname"]: link["linkinfo"]["info_data"]["id"]
                for link in json.loads(out or "[]")}

    def flood(self, host: str) -> dict[str, set[str]]:
        out = sh("ip", "netns", "exec", self.hosts[host], "bridge", "-j", "fdb",
                 "show").stdout
        return vxlan.flood_entries(json.loads(out or "[]"), self.vx_links(host))

    def cleanup(self) -> None:
        self.db.dispose()
        for ns in reversed(self.namespaces):  # the links in them go with them
            sh("ip", "netns", "del", ns, check=False)


def ping(ns: str, address: str, count: int = 3) -> bool:
    r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", str(count),
                        "-W", "2", "-i", "0.2", address], capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    try:
        lab.up()
        yield lab
    finally:
        lab.cleanup()
        left = sh("ip", "netns", "list").stdout
        assert lab.tag not in left, left


def test_instances_of_a_network_on_two_hosts_reach_each_other_and_no_other(lab):
    net1, net2 = str(uuid.uuid4()), str(uuid.uuid4())
    a1 = lab.instance("a", net1, "10.9.0.1")
    b1 = lab.instance("b", net1, "10.9.0.2")
    a2 = lab.instance("a", net2, "10.9.0.3")
    b2 = lab.instance("b", net2, "10.9.0.4")
    for host in "ab":
        lab.drive(host, "beat")
    for host, spec in (("a", a1), ("b", b1), ("a", a2), ("b", b2)):
        lab.drive(host, "create", spec)

    # one device per network and host, the same VNI on both hosts, two VNIs
    vnis = {h: lab.vx_links(h) for h in "ab"}
    assert sorted(vnis["a"].values()) == sorted(vnis["b"].values())
    assert len(set(vnis["a"].values())) == 2
    assert lab.flood("a") == {d: {UNDERLAY["b"]} for d in vnis["a"]}
    mtu = json.loads(sh("ip", "-j", "-n", a1["ns"], "link", "show", "eth0").stdout)[0]["mtu"]
    assert mtu == 1450

    assert ping(a1["ns"], "10.9.0.2") and ping(b1["ns"], "10.9.0.1")
    assert ping(a2["ns"], "10.9.0.4")
    for ns, other in ((a1["ns"], "10.9.0.4"), (a1["ns"], "10.9.0.3"),
                      (b1["ns"], "10.9.0.3"), (b2["ns"], "10.9.0.2")):
        assert not ping(ns, other, count=2), f"{ns} reached {other} on another network"

    # host b stops beating: a drops it; b beats again: a floods to it again
    with lab.db.write() as s:
        s.get(Host, lab.hosts["b"]).updated_at = jobs.now() - timedelta(hours=1)
    dropped = lab.drive("a", "beat")["synced"]
    assert len(dropped) == 2 and all(" del " in f" {line} " for line in dropped)
    assert lab.flood("a") == {d: set() for d in vnis["a"]}
    assert not ping(a1["ns"], "10.9.0.2", count=2)
    lab.drive("b", "beat")
    assert len(lab.drive("a", "beat")["synced"]) == 2
    assert ping(a1["ns"], "10.9.0.2")

    # network 2's device detached by hand (as when its bridge was deleted): the next
    # plug on a sets it on its bridge again, the same device (its VNI and local are right)
    bridge2 = (prefixes(lab.tag, lab.hosts["a"])["bridge_prefix"] + net2.replace("-", ""))
    on2 = json.loads(sh("ip", "-j", "-n", lab.hosts["a"], "link", "show", "master",
                        bridge2[:15]).stdout)
    (dev2,) = [link for link in on2 if link["ifname"] in vnis["a"]]
    sh("ip", "-n", lab.hosts["a"], "link", "set", dev2["ifname"], "nomaster")
    a3 = lab.instance("a", net2, "10.9.0.5")
    lab.drive("a", "create", a3)
    again = json.loads(sh("ip", "-j", "-n", lab.hosts["a"], "link", "show", "dev",
                          dev2["ifname"]).stdout)[0]
    assert again.get("master") == bridge2[:15] and again["ifindex"] == dev2["ifindex"]
    assert ping(a3["ns"], "10.9.0.4")

    # the last instance of network 1 on a goes: its bridge and vxlan device go too
    bridge1 = (prefixes(lab.tag, lab.hosts["a"])["bridge_prefix"] + net1.replace("-", ""))
    dev1 = json.loads(sh("ip", "-j", "-n", lab.hosts["a"], "link", "show", "master",
                         bridge1[:15]).stdout)
    assert [link["ifname"] for link in dev1 if link["ifname"] in vnis["a"]] != []
    lab.drive("a", "delete", a1)
    left = lab.vx_links("a")
    assert len(left) == 1 and set(left) < set(vnis["a"])
    assert sh("ip", "-n", lab.hosts["a"], "link", "show", bridge1[:15], check=False).returncode


MGMT_PREFIX = "fdca:3ba5:a17a:acda::"


def addresses(ns: str, dev: str) -> list[str]:
    out = sh("ip", "-j", "-n", ns, "addr", "show", "dev", dev).stdout
    return [a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", ())
            if a.get("scope") == "global"]


def test_an_appliance_on_another_host_reaches_the_management_address_a_tenant_does_not(lab):
    name = f"mgmt-{lab.tag}"  # the management network's name, a tenant's network's too
    mgmt = {"management_network": name, "management_host_address": MGMT_PREFIX + "1/64",
            "management_address_host": lab.hosts["a"]}
    mgmt_net, tenant_net = str(uuid.uuid4()), str(uuid.uuid4())
    appliance = lab.instance("b", mgmt_net, MGMT_PREFIX + "10", 64, network_name=name,
                             image_id=catalog.APPLIANCE_IMAGE, security=True, management=True)
    tenant = lab.instance("b", tenant_net, MGMT_PREFIX + "20", 64, profile="tenant",
                          network_name=name, image_id=catalog.TENANT_IMAGE, security=True)
    # the holder makes its bridge at its heartbeat: the appliance's record asks for it
    made = lab.drive("a", "beat", mgmt=mgmt)["synced"]
    assert any("addr replace" in line for line in made), made
    lab.drive("b", "beat", mgmt=mgmt)
    lab.drive("b", "create", appliance, mgmt=mgmt)
    lab.drive("b", "plug", tenant, mgmt=mgmt)
    sh("ip", "-n", tenant["ns"], "addr", "add", MGMT_PREFIX + "20/64", "dev", "eth0", "nodad")
    synced = lab.drive("a", "beat", mgmt=mgmt)["synced"]  # now b is a peer
    assert not any("link add" in line for line in synced), synced  # not made again

    bridge = (prefixes(lab.tag, lab.hosts["a"])["bridge_prefix"]
              + mgmt_net.replace("-", ""))[:15]
    holder = json.loads(sh("ip", "-j", "-n", lab.hosts["a"], "link", "show", bridge).stdout)
    assert holder[0]["address"] == neighbours.holder_mac(mgmt["management_host_address"])
    assert addresses(lab.hosts["a"], bridge) == [MGMT_PREFIX + "1"]
    assert addresses(lab.hosts["b"], bridge) == []  # only the holder holds it
    vnis = {h: lab.vx_links(h) for h in "ab"}
    assert len(vnis["a"]) == 1 and set(vnis["a"].values()) < set(vnis["b"].values())
    (mgmt_vni,) = vnis["a"].values()
    assert len(set(vnis["b"].values())) == 2  # the tenant's network: a VNI of its own
    assert lab.flood("a") == {d: {UNDERLAY["b"]} for d in vnis["a"]}
    assert {d: p for d, p in lab.flood("b").items() if vnis["b"][d] == mgmt_vni} \
        == {d: {UNDERLAY["a"]} for d, v in vnis["b"].items() if v == mgmt_vni}

    # across the tunnel, both ways; the appliance's pins are complete for reconcile
    assert ping(appliance["ns"], MGMT_PREFIX + "1")
    assert ping(lab.hosts["a"], MGMT_PREFIX + "10")
    pinned = lab.drive("b", "observe", mgmt=mgmt)
    assert pinned[appliance["id"]] == [[appliance["ports"][0]["mac_address"],
                                        MGMT_PREFIX + "10"]]
    # the tenant, anti-spoofing letting its own address pass, reaches neither
    assert not ping(tenant["ns"], MGMT_PREFIX + "1", count=2)
    assert not ping(tenant["ns"], MGMT_PREFIX + "10", count=2)
    assert addresses(lab.hosts["b"], (prefixes(lab.tag, lab.hosts["b"])["bridge_prefix"]
                                      + tenant_net.replace("-", ""))[:15]) == []
