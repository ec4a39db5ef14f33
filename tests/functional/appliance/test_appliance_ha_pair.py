"""Two appliance namespaces as a VRRP pair with real keepalived and conntrackd.

Topology (see `topology.py`): members "a" and "b" on a shared external bridge
(upstream 203.0.113.1), a shared internal bridge (host h1 192.0.2.10, its gateway
the virtual 192.0.2.1; h3 192.0.2.12 with floating IP 203.0.113.10; h2 takes its
address by DHCP after the failover) and the management bridge, which carries the
heartbeat (fdca::2 and fdca::3). Each member is driven through
`converge.Appliance` with the real ports. One becomes master and holds the virtual
addresses and the floating IP; h1 pings and holds a TCP connection through SNAT to
the upstream, the upstream one to h3's floating IP; the master dies (its processes
killed, its namespace and links deleted); the backup takes the addresses and both
connections survive (through SNAT thanks to conntrackd: the upstream speaks first,
which only a synced NAT entry lets through); the gap is printed, never asserted.
The dead member comes back with its priority and stays backup (nopreempt). Then
HA is turned off on the survivor (addresses kept, static) and on again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from tests.support import wait_for
from topology import Topology, sh

from astara.appliance import status as status_mod
from astara.appliance.apply import ha as apply_ha
from astara.appliance.apply.netns import entered
from astara.appliance.converge import Appliance
from astara.appliance.host import real_ports
from astara.wire import examples, parse_config

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("nft", "keepalived", "conntrackd",
                                                         "ip", "ping")),
                       reason="needs nft, keepalived, conntrackd, ping and iproute2"),
]

PORT = 7000
H1, H2, H3 = "fa:16:3e:aa:00:01", "fa:16:3e:aa:00:02", "fa:16:3e:aa:00:03"
MEMBERS = {  # name: (management address, priority, MACs: mgmt, ext, int)
    "a": (2, 110, ("fa:16:3e:0a:00:01", "fa:16:3e:0a:00:02", "fa:16:3e:0a:00:03")),
    "b": (3, 100, ("fa:16:3e:0b:00:01", "fa:16:3e:0b:00:02", "fa:16:3e:0b:00:03")),
}


def member_document(name: str) -> dict:
    me, priority, (mgmt, ext, internal) = MEMBERS[name]
    peer = next(m[0] for n, m in MEMBERS.items() if n != name)
    net1 = examples.internal_network("net1", internal, "192.0.2.1/24")
    net1["allocations"] = [{"mac_address": H2, "ip_addresses": ["192.0.2.11"]}]
    doc = examples.router_document()
    doc["networks"] = [
        {"network_id": "mgmt", "network_type": "management",
         "interface": {"mac_address": mgmt, "addresses": [f"fdca::{me}/64"]}},
        {"network_id": "ext", "network_type": "external",
         "interface": {"mac_address": ext, "addresses": ["203.0.113.2/24"]},
         "subnets": [{"cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1"}]},
        net1,
    ]
    doc["floating_ips"] = [{"floating_ip": "203.0.113.10", "fixed_ip": "192.0.2.12"}]
    doc["ha"] = {"enabled": True, "peers": [f"fdca::{peer}"], "priority": priority,
                 "virtual_router_id": 51, "advert_interval_cs": 20}
    return doc


class Pair:
    def __init__(self, topo: Topology, work: Path) -> None:
        self.topo, self.work = topo, work
        self.members: list[Appliance] = []  # every one booted, for the teardown
        self.boots = 0

    def boot(self, name: str) -> Appliance:
        """A member's namespace and links (as the compute agent makes them), then its
        document applied."""
        self.boots += 1
        ns = self.topo.netns(f"{name}{self.boots}")
        _, _, macs = MEMBERS[name]
        for net, ifname, mac in zip(("mgmt", "ext", "int"), ("ge0", "ge1", "ge2"), macs,
                                    strict=True):
            self.topo.plug(ns, net, ifname, mac)
        # a state path far longer than a UNIX socket's 107 bytes leave room for:
        # conntrackd's control socket is not under it
        state = self.work / ("state-" + "x" * 90 + f"-{name}{self.boots}")
        state.mkdir()
        state.chmod(0o711)  # dnsmasq, once it dropped root, reaches its files
        appliance = Appliance(name, ns, state, 5000, real_ports(state))
        result = appliance.apply(parse_config(member_document(name)))
        assert result.error is None, result.error
        assert result.ha == "start"
        self.members.append(appliance)
        return appliance

    def holds_vip(self, appliance: Appliance, vip: str = "203.0.113.2/24") -> bool:
        out = sh("ip", "-n", appliance.netns, "-4", "addr", "show", "dev", "ge1").stdout
        return vip in out

    def role(self, appliance: Appliance) -> str:
        return status_mod.status(appliance).ha.role

    def kill(self, appliance: Appliance) -> None:
        """The member's VM dies: every process in its namespace, then its links (the
        agent's own sockets in the namespace would keep it, and them, alive)."""
        ns = appliance.netns
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            os.kill(int(pid), signal.SIGKILL)
        for ifname in ("ge0", "ge1", "ge2"):
            sh("ip", "-n", ns, "link", "del", ifname)
        sh("ip", "netns", "del", ns)
        self.topo.namespaces.remove(ns)


@pytest.fixture
def lab():
    # keepalived runs a root script only if no directory above it is writable by
    # others: not under /tmp
    work = Path(tempfile.mkdtemp(prefix="astara-ha-", dir="/run"))
    work.chmod(0o755)
    topo = Topology(work)
    pair = Pair(topo, work)
    try:
        up = topo.netns("up")
        topo.plug(up, "ext", "eth0", "fa:16:3e:ff:00:01")
        topo.up(up, "eth0", "203.0.113.1/24")
        h1 = topo.netns("h1")
        topo.plug(h1, "int", "eth0", H1)
        topo.up(h1, "eth0", "192.0.2.10/24")
        sh("ip", "-n", h1, "route", "add", "default", "via", "192.0.2.1")
        h2 = topo.netns("h2")
        topo.plug(h2, "int", "eth0", H2)
        topo.up(h2, "eth0")
        h3 = topo.netns("h3")
        topo.plug(h3, "int", "eth0", H3)
        topo.up(h3, "eth0", "192.0.2.12/24")
        sh("ip", "-n", h3, "route", "add", "default", "via", "192.0.2.1")
        yield pair, up, h1, h2, h3
    finally:
        for appliance in pair.members:
            try:
                appliance.teardown()
            except Exception as exc:  # the namespace may be gone: clean up the rest
                print(f"teardown of {appliance.name}: {exc}")
        topo.destroy()
        shutil.rmtree(work, ignore_errors=True)


def listen(netns: str) -> socket.socket:
    with entered(netns):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", PORT))
    srv.listen(4)
    srv.settimeout(10)
    return srv


def reply_gap(ping_output: str) -> float:
    """The longest time between two consecutive echo replies (`ping -D` stamps)."""
    stamps = [float(line[1:line.index("]")]) for line in ping_output.splitlines()
              if line.startswith("[") and "bytes from" in line]
    return max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=0.0)


def test_failover_keeps_addresses_and_connections_and_the_old_master_stays_backup(lab):
    pair, up, h1, h2, h3 = lab
    a, b = pair.boot("a"), pair.boot("b")
    master = wait_for(lambda: next((m for m in (a, b) if pair.holds_vip(m)), None),
                      timeout=15, what="a master holding 203.0.113.2")
    backup = b if master is a else a
    wait_for(lambda: pair.role(master) == "master" and pair.role(backup) == "backup",
             timeout=10, what="the roles reported")
    assert not pair.holds_vip(backup)
    assert pair.holds_vip(master, "203.0.113.10/32")  # the floating IP
    assert not pair.holds_vip(backup, "203.0.113.10/32")
    assert sh("ip", "-n", master.netns, "route", "show", "default").stdout.startswith(
        "default via 203.0.113.1 dev ge1 proto keepalived")

    # ping and a TCP connection through SNAT, while both members run
    assert pair.topo.run(h1, "ping", "-c", "1", "-W", "2", "203.0.113.1",
                         check=False).returncode == 0
    srv = listen(up)
    with entered(h1):
        client = socket.create_connection(("203.0.113.1", PORT), timeout=10)
    conn, peer = srv.accept()
    assert peer[0] == "203.0.113.2"  # source NAT to the virtual address
    client.sendall(b"before\n")
    assert conn.recv(100) == b"before\n"
    # and one from the upstream to h3's floating IP
    fip_srv = listen(h3)
    with entered(up):
        fip_client = socket.create_connection(("203.0.113.10", PORT), timeout=10)
    fip_conn, fip_peer = fip_srv.accept()
    assert fip_peer[0] == "203.0.113.1"
    wait_for(lambda: (status_mod.status(backup).ha.external_connections or 0) >= 1,
             timeout=10, what="the backup's conntrackd holding the master's connections")

    ping = subprocess.Popen(["ip", "netns", "exec", h1, "ping", "-D", "-n", "-i", "0.02",
                             "-W", "1", "203.0.113.1"], stdout=subprocess.PIPE, text=True)
    pair.topo.pids.append(ping.pid)
    try:
        killed = time.monotonic()
        pair.kill(master)
        wait_for(lambda: pair.holds_vip(backup), timeout=15,
                 what="the backup taking 203.0.113.2")
        taken = time.monotonic() - killed
        wait_for(lambda: pair.topo.run(h1, "ping", "-c", "1", "-W", "1", "203.0.113.1",
                                       check=False).returncode == 0,
                 timeout=10, what="h1 reaching the upstream again")
    finally:
        ping.send_signal(signal.SIGINT)
        output, _ = ping.communicate(timeout=10)
    print(f"\nHA failover: addresses taken {taken:.3f} s after the kill; "
          f"longest gap between ping replies {reply_gap(output):.3f} s")
    assert pair.role(backup) == "master"

    # the established connection: the upstream speaks first, so only the NAT entry
    # conntrackd synced (not a new one the client's packet would make) lets it through
    conn.sendall(b"after\n")
    client.settimeout(10)
    assert client.recv(100) == b"after\n"
    client.sendall(b"again\n")
    assert conn.recv(100) == b"again\n"
    fip_client.sendall(b"to the floating IP\n")
    fip_conn.settimeout(10)
    assert fip_conn.recv(100) == b"to the floating IP\n"
    fip_conn.sendall(b"from it\n")
    fip_client.settimeout(10)
    assert fip_client.recv(100) == b"from it\n"
    assert pair.holds_vip(backup, "203.0.113.10/32")
    for sock in (client, conn, srv, fip_client, fip_conn, fip_srv):
        sock.close()

    # the new master's dnsmasq serves DHCP (it follows the addresses keepalived adds)
    lease = pair.topo.dhclient(h2, "eth0")
    assert lease["new_ip_address"] == "192.0.2.11"
    assert lease["new_routers"] == "192.0.2.1"

    # the dead member comes back, with the higher priority if it was a: it stays backup
    returned = pair.boot(master.name)
    wait_for(lambda: pair.role(returned) == "backup", timeout=10,
             what="the returned member reporting backup")
    deadline = time.monotonic() + 3.0  # a window of many master-down intervals
    while time.monotonic() < deadline:
        assert not pair.holds_vip(returned)
        assert pair.holds_vip(backup)
        time.sleep(0.1)
    assert pair.role(returned) == "backup" and pair.role(backup) == "master"
    assert apply_ha.running(returned.state_dir, returned.ports.ha)[0] is not None

    # a changed document (one more floating IP) is a reload: no role changes
    pid = apply_ha.running(backup.state_dir, backup.ports.ha)[0]
    for member in (backup, returned):
        doc = member_document(member.name)
        doc["floating_ips"].append({"floating_ip": "203.0.113.11", "fixed_ip": "192.0.2.13"})
        result = member.apply(parse_config(doc))
        assert result.error is None and result.ha == "reload"
    wait_for(lambda: pair.holds_vip(backup, "203.0.113.11/32"), timeout=10,
             what="the master holding the new floating IP")
    assert apply_ha.running(backup.state_dir, backup.ports.ha)[0] == pid
    assert pair.role(backup) == "master" and pair.role(returned) == "backup"
    assert not pair.holds_vip(returned, "203.0.113.11/32")

    # HA off: the other member goes, the survivor keeps the addresses as static ones
    returned.teardown()
    single = member_document(backup.name)
    single["ha"] = {"enabled": False}
    result = backup.apply(parse_config(single))
    assert result.error is None and result.ha == "stop"
    assert apply_ha.running(backup.state_dir, backup.ports.ha) == (None, None)
    assert pair.holds_vip(backup)
    assert "proto static" in sh("ip", "-n", backup.netns, "route", "show",
                                "default").stdout
    assert pair.topo.run(h1, "ping", "-c", "1", "-W", "2", "203.0.113.1",
                         check=False).returncode == 0
    assert status_mod.status(backup).ha is None

    # HA on again, alone: it becomes master and holds the addresses once more
    result = backup.apply(parse_config(member_document(backup.name)))
    assert result.error is None and result.ha == "start"
    wait_for(lambda: pair.role(backup) == "master" and pair.holds_vip(backup), timeout=10,
             what="the lone member becoming master")
    wait_for(lambda: pair.topo.run(h1, "ping", "-c", "1", "-W", "1", "203.0.113.1",
                                   check=False).returncode == 0,
             timeout=10, what="h1 reaching the upstream through the lone master")
