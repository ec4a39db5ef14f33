"""Anti-spoofing and strict ARP as root: instances attack a neighbour from inside.

On one network (a bridge of the netns backend): a "victim" namespace the test makes
(unfiltered, it watches), instance A (port security, allowed address pairs), instance
B (port security; the address A tries to steal) and instance C (port security
disabled: nothing filters it, which is also what shows each attack works at all).
Frames are crafted by ``frames.py`` in the attacker's namespace; the victim captures
until a marker frame sent after them arrives (the bridge keeps their order), so no
test waits on a clock. An appliance namespace on two networks shows ARP and ND are
answered only for the receiving interface's addresses. Everything created is removed
even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import frames as fr
import pytest
from compute_stack import plug_namespace, sh
from tests.support import wait_for

from astara.cli.netns_cleanup import drop_filter_table_if_empty
from astara.compute_service.agent import antispoof, netlink, reconcile
from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.runner import SubprocessRunner

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("ip", "nft", "dhclient", "ping")),
                       reason="needs iproute2, nftables, dhclient and ping"),
]

FRAMES = str(Path(fr.__file__).resolve())
VICTIM_MAC, A_MAC, B_MAC, C_MAC = ("02:00:00:78:00:01", "fa:16:3e:78:00:0a",
                                   "fa:16:3e:78:00:0b", "fa:16:3e:78:00:0c")
PAIR_MAC = "fa:16:3e:78:00:99"
VICTIM, A_IP, B_IP, C_IP = "10.78.0.1", "10.78.0.10", "10.78.0.20", "10.78.0.30"
VICTIM6, A_IP6, B_IP6 = "fd78::1", "fd78::a", "fd78::b"


class Lab:
    def __init__(self, tmp: Path):
        self.tag = secrets.token_hex(2)
        self.backend = NetnsBackend(SubprocessRunner(), tmp, netns_prefix=f"acv-{self.tag}-",
                                    bridge_prefix=f"acb{self.tag}",
                                    appliance_prefix=f"aca-{self.tag}-")
        self.specs: list[InstanceSpec] = []
        self.namespaces: list[str] = []
        self.links: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def instance(self, net_id: str, mac: str, addresses: list[str], profile: str = "tenant",
                 **port_fields) -> tuple[InstanceSpec, str]:
        """An instance with one port on ``net_id``; ``addresses`` set on its eth0."""
        fixed = [{"subnet_id": "s", "ip_address": a.split("/")[0]} for a in addresses]
        port = {"port_id": str(uuid.uuid4()), "net_id": net_id, "mac_address": mac,
                "fixed_ips": fixed, **port_fields}
        spec = InstanceSpec(id=str(uuid.uuid4()), name=f"as-{self.tag}", profile=profile,
                            ports=(port,))
        self.specs.append(spec)
        self.backend.create(spec)
        ns = self.backend.netns(spec.id, profile)
        for address in addresses:
            sh("ip", "-n", ns, "addr", "replace", address, "dev", "eth0",
               *(["nodad"] if ":" in address else []))
        return spec, ns

    def plain(self, net_id: str, name: str, mac: str, addresses: list[str]) -> str:
        """A namespace of the test's own on the network's bridge (nothing filters it)."""
        return plug_namespace(self.backend.bridge(net_id), f"acp-{self.tag}-{name}",
                              f"acp{self.tag}{name}"[:15], addresses, mac,
                              namespaces=self.namespaces, links=self.links)

    def capture(self, ns: str, marker: bytes) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, FRAMES, "capture",
                                 "eth0", marker.hex(), "10"], stdout=subprocess.PIPE,
                                text=True)
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    @staticmethod
    def captured(proc: subprocess.Popen) -> list[bytes]:
        out, _ = proc.communicate(timeout=30)
        return [bytes.fromhex(h) for h in json.loads(out)]

    @staticmethod
    def send(ns: str, *frames: bytes) -> None:
        sh("ip", "netns", "exec", ns, sys.executable, FRAMES, "send", "eth0",
           *(f.hex() for f in frames))

    def exchange(self, victim: str, attacker: str, frames: list[bytes],
                 marker: bytes) -> list[bytes]:
        """Send ``frames`` then ``marker`` from ``attacker``; what ``victim`` received."""
        proc = self.capture(victim, marker[-8:])
        self.send(attacker, *frames, marker)
        got = self.captured(proc)
        assert any(marker[-8:] in f for f in got), "the marker frame never arrived"
        return got

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for spec in self.specs:
            with contextlib.suppress(Exception):
                self.backend.delete(spec)
        self.backend.runner.kill(self.backend.responders.pidfile)  # the responder zygote
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        for link in self.links:
            sh("ip", "link", "del", link, check=False)
        self.backend.sweep_bridges()  # ours (tagged prefix) that our namespaces kept alive
        # what the backend created and a failure may have left: our chains, our table
        taps = [self.backend.tap(p["port_id"]) for s in self.specs for p in s.ports]
        if taps:
            subprocess.run(["nft", "-f", "-"], capture_output=True, text=True, check=False,
                           input=antispoof.script(antispoof.delete_script(taps)))
        drop_filter_table_if_empty()


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.cleanup()


def token() -> bytes:
    return b"astara-" + secrets.token_hex(8).encode()


def marker_from(mac: str, ip: str) -> bytes:
    return fr.ether(VICTIM_MAC, mac, fr.ETH_P_IP, fr.udp4(ip, VICTIM, 4000, 4000, token()))


@pytest.fixture
def net(lab):
    """The network, the victim, instances A, B and C (addresses set), victim knows B."""
    net_id = str(uuid.uuid4())
    victim = lab.plain(net_id, "v", VICTIM_MAC, [f"{VICTIM}/24", f"{VICTIM6}/64"])
    # an ARP reply may replace a fresh neighbour entry at once (a gratuitous ARP always may)
    sh("ip", "netns", "exec", victim, "sh", "-c",
       "echo 0 > /proc/sys/net/ipv4/neigh/eth0/locktime")
    a_spec, a = lab.instance(net_id, A_MAC, [f"{A_IP}/24", f"{A_IP6}/64"],
                             port_security_enabled=True, allowed_address_pairs=[
                                 {"ip_address": "10.78.0.50", "mac_address": A_MAC},
                                 {"ip_address": "10.78.2.0/24", "mac_address": PAIR_MAC}])
    _, b = lab.instance(net_id, B_MAC, [f"{B_IP}/24", f"{B_IP6}/64"],
                        port_security_enabled=True)
    _, c = lab.instance(net_id, C_MAC, [f"{C_IP}/24"], port_security_enabled=False)
    wait_for(lambda: sh("ip", "netns", "exec", victim, "ping", "-c1", "-W1", B_IP,
                        check=False).returncode == 0, what="the victim reaching B")
    assert B_MAC in sh("ip", "-n", victim, "neigh", "show", B_IP).stdout
    return {"victim": victim, "a": a, "b": b, "c": c, "a_spec": a_spec, "net_id": net_id}


def arp_spoof(mac: str, stolen: str) -> list[bytes]:
    """A gratuitous ARP and an ARP reply to the victim: ``stolen`` is at ``mac``."""
    return [fr.ether(fr.BROADCAST, mac, fr.ETH_P_ARP,
                     fr.arp(1, mac, stolen, "00:00:00:00:00:00", stolen)),
            fr.ether(VICTIM_MAC, mac, fr.ETH_P_ARP, fr.arp(2, mac, stolen, VICTIM_MAC, VICTIM))]


def received(frame: bytes, got: list[bytes]) -> bool:
    return any(f.startswith(frame) for f in got)  # short frames may come padded


def test_arp_claiming_another_ports_address_is_dropped(lab, net):
    victim = net["victim"]
    spoof = arp_spoof(A_MAC, B_IP)
    got = lab.exchange(victim, net["a"], spoof, marker_from(A_MAC, A_IP))
    assert not any(received(f, got) for f in spoof)
    assert B_MAC in sh("ip", "-n", victim, "neigh", "show", B_IP).stdout
    # the same from C, whose port security is disabled: the victim is fooled
    spoof = arp_spoof(C_MAC, B_IP)
    got = lab.exchange(victim, net["c"], spoof, marker_from(C_MAC, C_IP))
    assert all(received(f, got) for f in spoof)
    wait_for(lambda: C_MAC in sh("ip", "-n", victim, "neigh", "show", B_IP).stdout,
             what="the unfiltered port's ARP taking the address")


def test_arp_for_an_allowed_address_pair_passes(lab, net):
    spoof = arp_spoof(A_MAC, "10.78.0.50")
    got = lab.exchange(net["victim"], net["a"], spoof, marker_from(A_MAC, A_IP))
    assert all(received(f, got) for f in spoof)


def attack_frames(mac: str, ip: str, ip6: str) -> dict[bytes, bytes]:
    """token -> frame: what an instance with ``mac``/``ip``/``ip6`` may or may not send."""
    ll = str(antispoof.link_local(mac))
    out: dict[bytes, bytes] = {}

    def add(build) -> None:
        t = token()
        out[t] = build(t)

    # 0..4: spoofed sources
    add(lambda t: fr.ether(VICTIM_MAC, mac, fr.ETH_P_IP, fr.udp4(B_IP, VICTIM, 1, 2, t)))
    add(lambda t: fr.ether(VICTIM_MAC, "02:de:ad:00:00:01", fr.ETH_P_IP,
                           fr.udp4(ip, VICTIM, 1, 2, t)))
    add(lambda t: fr.ether(fr.multicast_mac(VICTIM6), mac, fr.ETH_P_IPV6,
                           fr.udp6(B_IP6, VICTIM6, 1, 2, t)))
    add(lambda t: fr.ether(fr.multicast_mac("ff02::1"), mac, fr.ETH_P_IPV6,
                           fr.neighbor_advert(ll, B_IP6, mac, t)))
    add(lambda t: fr.ether(VICTIM_MAC, mac, fr.ETH_P_IP, fr.udp4("10.78.2.7", VICTIM, 1, 2, t)))
    # 5..7: a DHCP server's offer, a router advertisement, from the port's own addresses,
    # a VLAN-tagged frame
    add(lambda t: fr.ether(fr.BROADCAST, mac, fr.ETH_P_IP,
                           fr.udp4(ip, "255.255.255.255", 67, 68, t)))
    add(lambda t: fr.ether(fr.multicast_mac("ff02::1"), mac, fr.ETH_P_IPV6,
                           fr.icmp6(ll, "ff02::1", 134, b"\x40\0\x07\x08" + bytes(8) + t)))
    add(lambda t: fr.ether(VICTIM_MAC, mac, 0x8100, b"\x00\x07\x08\x00"
                           + fr.udp4(ip, VICTIM, 1, 2, t)))
    # 8..14: allowed: fixed IPs, link-local, DAD, a DHCP request, the address pairs
    add(lambda t: fr.ether(VICTIM_MAC, mac, fr.ETH_P_IPV6, fr.udp6(ip6, VICTIM6, 1, 2, t)))
    add(lambda t: fr.ether(fr.multicast_mac("ff02::1"), mac, fr.ETH_P_IPV6,
                           fr.udp6(ll, "ff02::1", 1, 2, t)))
    # (to the victim's MAC: the bridge's multicast snooping would not flood the group)
    add(lambda t: fr.ether(VICTIM_MAC, mac, fr.ETH_P_IPV6,
                           fr.neighbor_solicit("::", ip6, None, t)))
    add(lambda t: fr.ether(fr.BROADCAST, mac, fr.ETH_P_IP,
                           fr.udp4("0.0.0.0", "255.255.255.255", 68, 67, t)))
    add(lambda t: fr.ether(VICTIM_MAC, mac, fr.ETH_P_IP, fr.udp4("10.78.0.50", VICTIM, 1, 2, t)))
    add(lambda t: fr.ether(VICTIM_MAC, PAIR_MAC, fr.ETH_P_IP,
                           fr.udp4("10.78.2.7", VICTIM, 1, 2, t)))
    # 14: a neighbour advertisement for its own address (the one rule comparing the
    # target with each of the port's addresses lets it through)
    add(lambda t: fr.ether(fr.multicast_mac("ff02::1"), mac, fr.ETH_P_IPV6,
                           fr.neighbor_advert(ll, ip6, mac, t)))
    return out


def test_spoofed_sources_dhcp_servers_and_router_adverts_are_dropped(lab, net):
    attack = attack_frames(A_MAC, A_IP, A_IP6)
    tokens = list(attack)
    got = lab.exchange(net["victim"], net["a"], list(attack.values()), marker_from(A_MAC, A_IP))
    arrived = [t for t in tokens if any(t in f for f in got)]
    assert arrived == tokens[8:]
    # C's port security is disabled: all of it reaches the victim (the test can see them)
    attack = attack_frames(C_MAC, C_IP, "fd78::c")
    got = lab.exchange(net["victim"], net["c"], list(attack.values()), marker_from(C_MAC, C_IP))
    assert [t for t in attack if any(t in f for f in got)] == list(attack)


def test_reconcile_reloads_a_missing_filter(lab, net):
    spec, a = net["a_spec"], net["a"]
    tap = lab.backend.tap(spec.ports[0]["port_id"])
    assert A_MAC in lab.backend.observe()[spec.id].filtered
    sh("nft", "delete", "chain", "netdev", antispoof.TABLE, tap)
    seen = lab.backend.observe()
    assert A_MAC not in seen[spec.id].filtered
    stored = reconcile.Stored(spec.id, "active", None, 1, profile="tenant", ports=spec.ports,
                              name=spec.name)
    repairs = [r for r in reconcile.decide([stored], {spec.id: seen[spec.id]}, set())
               if r.instance_id == spec.id]
    assert [(r.kind, r.replug) for r in repairs] == [("ports", spec.ports)]
    for port in repairs[0].replug:  # what reconcile.apply does for a "ports" repair
        lab.backend.attach(spec, port)
    assert A_MAC in lab.backend.observe()[spec.id].filtered
    lab.exchange(net["victim"], a, arp_spoof(A_MAC, B_IP), marker_from(A_MAC, A_IP))
    assert B_MAC in sh("ip", "-n", net["victim"], "neigh", "show", B_IP).stdout
    lab.backend.delete(spec)
    listing = sh("nft", "-j", "list", "table", "netdev", antispoof.TABLE, check=False)
    assert listing.returncode != 0 or tap not in antispoof.chains(json.loads(listing.stdout))


def chain_handle(tap: str) -> int:
    """The kernel's handle of ``tap``'s chain: the ``# handle N`` on its ``chain`` line."""
    listing = sh("nft", "-a", "list", "chain", "netdev", antispoof.TABLE, tap).stdout
    found = re.search(rf"^\s*chain {re.escape(tap)} {{ # handle (\d+)$", listing, re.M)
    assert found, listing
    return int(found.group(1))


def test_a_loaded_chain_is_refilled_in_place_and_found_by_name(lab, net):
    spec, a = net["a_spec"], net["a"]
    tap = lab.backend.tap(spec.ports[0]["port_id"])
    assert netlink.chains_present(netlink.NFPROTO_NETDEV, antispoof.TABLE,
                                  [tap, "tapnotthere"]) == {tap}
    before = sh("nft", "list", "chain", "netdev", antispoof.TABLE, tap).stdout
    handle = chain_handle(tap)
    lab.backend.attach(spec, spec.ports[0])  # plugged already: its chain loaded again
    assert sh("nft", "list", "chain", "netdev", antispoof.TABLE, tap).stdout == before
    # the same chain (a replaced one, or the fallback, gets a new handle)
    assert chain_handle(tap) == handle
    lab.exchange(net["victim"], a, arp_spoof(A_MAC, B_IP), marker_from(A_MAC, A_IP))
    assert B_MAC in sh("ip", "-n", net["victim"], "neigh", "show", B_IP).stdout


def test_appliance_answers_arp_and_nd_only_for_the_receiving_interface(lab):
    """Appliance eth0 on network X (10.79.0.1, fd79::1), eth1 on Y (10.79.1.1,
    fd79:1::1); a neighbour on X asks for both: only eth0's addresses are answered."""
    net_x, net_y = str(uuid.uuid4()), str(uuid.uuid4())
    x_port = {"port_id": str(uuid.uuid4()), "net_id": net_x, "mac_address": "fa:16:3e:79:00:01",
              "fixed_ips": [{"subnet_id": "s", "ip_address": "10.79.0.1", "prefixlen": 24},
                            {"subnet_id": "t", "ip_address": "fd79::1", "prefixlen": 64}],
              "port_security_enabled": False}
    y_port = {"port_id": str(uuid.uuid4()), "net_id": net_y, "mac_address": "fa:16:3e:79:00:02",
              "fixed_ips": [{"subnet_id": "u", "ip_address": "fd79:1::1", "prefixlen": 64}],
              "port_security_enabled": False}  # an IPv6 fixed IP: eth1 keeps IPv6
    spec = InstanceSpec(str(uuid.uuid4()), f"as-{lab.tag}", "appliance", (x_port, y_port))
    lab.specs.append(spec)
    lab.backend.create(spec)  # the profile sets eth0's addresses, as for a management port
    ns = lab.backend.netns(spec.id, "appliance")
    sh("ip", "-n", ns, "addr", "add", "10.79.1.1/24", "dev", "eth1")  # as the agent would
    sh("ip", "-n", ns, "addr", "add", "fd79:1::1/64", "dev", "eth1", "nodad")
    peer_mac = "02:00:00:79:00:02"
    peer = lab.plain(net_x, "x", peer_mac, ["10.79.0.2/24", "fd79::2/64"])

    def ask(target: str) -> bytes:
        return fr.ether(fr.BROADCAST, peer_mac, fr.ETH_P_ARP,
                        fr.arp(1, peer_mac, "10.79.0.2", "00:00:00:00:00:00", target))

    def solicit(target: str) -> bytes:
        return fr.ether(fr.multicast_mac(fr.solicited_node(target)), peer_mac, fr.ETH_P_IPV6,
                        fr.neighbor_solicit("fd79::2", target, peer_mac))

    # the question asked last (for eth0's own address) is answered last: its answer
    # (the appliance's MAC and address as sender / target) ends the capture
    mac = bytes.fromhex(x_port["mac_address"].replace(":", ""))
    proc = lab.capture(peer, mac + bytes([10, 79, 0, 1]))
    lab.send(peer, ask("10.79.1.1"), ask("10.79.0.1"))
    arp_replies = [f for f in lab.captured(proc) if f[12:14] == b"\x08\x06" and f[21] == 2]
    assert [f[28:32] for f in arp_replies] == [bytes([10, 79, 0, 1])], arp_replies
    own = bytes.fromhex("fd790000000000000000000000000001")
    proc = lab.capture(peer, own + b"\x02\x01" + mac)  # target, target link-layer address
    lab.send(peer, solicit("fd79:1::1"), solicit("fd79::1"))
    adverts = [f for f in lab.captured(proc) if f[12:14] == b"\x86\xdd" and f[20] == 58
               and f[54] == 136]
    assert [f[62:78] for f in adverts] == [own], adverts


def test_an_appliances_management_port_lets_no_listener_report_out(lab):
    """MLD reports and dones from an appliance's management port (from its link-local
    address and from ::) are dropped; its other IPv6 passes; the same reports from
    another appliance port with port security pass (what shows the capture sees them).
    The management port's MAC is a static entry of its bridge's table on its tap."""
    lab.backend.mgmt_host_address = ""  # no host address on the test's bridge, no pins
    net_id = str(uuid.uuid4())
    victim = lab.plain(net_id, "v", VICTIM_MAC, [f"{VICTIM6}/64"])
    mgmt_spec, mgmt = lab.instance(net_id, A_MAC, [f"{A_IP6}/64"], profile="appliance",
                                   port_security_enabled=True, management=True)
    other_spec, other = lab.instance(net_id, B_MAC, [f"{B_IP6}/64"], profile="appliance",
                                     port_security_enabled=True)

    def reports(mac: str) -> dict[bytes, bytes]:
        """token -> frame: four listener messages, then a datagram to all nodes."""
        ll, group = str(antispoof.link_local(mac)), fr.solicited_node(A_IP6)
        out = {}
        for src, kind in ((ll, 143), ("::", 143), (ll, 131), (ll, 132)):
            t = token()
            dst = {143: "ff02::16", 131: group, 132: "ff02::2"}[kind]
            out[t] = fr.ether(fr.multicast_mac(dst), mac, fr.ETH_P_IPV6,
                              fr.listener(src, group, kind, t))
        t = token()
        out[t] = fr.ether(fr.multicast_mac("ff02::1"), mac, fr.ETH_P_IPV6,
                          fr.udp6(ll, "ff02::1", 1, 2, t))
        return out

    # what the bridge first learnt the appliance's MAC from is dropped: its tap holds
    # it statically from the plug (no flood of the frames sent to it meanwhile)
    def static(spec: InstanceSpec) -> list[str]:
        tap = lab.backend.tap(spec.ports[0]["port_id"])
        entries = json.loads(sh("bridge", "-j", "fdb", "show", "dev", tap).stdout or "[]")
        return [e["mac"] for e in entries if e.get("state") == "static"]

    assert static(mgmt_spec) == [A_MAC] and static(other_spec) == []
    sent = reports(A_MAC)
    got = lab.exchange(victim, mgmt, list(sent.values())[:-1], list(sent.values())[-1])
    assert [t for t in sent if any(t in f for f in got)] == list(sent)[-1:]
    sent = reports(B_MAC)
    got = lab.exchange(victim, other, list(sent.values())[:-1], list(sent.values())[-1])
    assert [t for t in sent if any(t in f for f in got)] == list(sent)


def test_netns_cleanup_removes_the_filters_of_instances_left_behind(lab, capsys):
    from astara.cli import netns_cleanup

    # (an appliance: nothing runs inside to keep its namespace alive once deleted)
    spec, ns = lab.instance(str(uuid.uuid4()), A_MAC, [f"{A_IP}/24"], profile="appliance",
                            port_security_enabled=True)
    tap = lab.backend.tap(spec.ports[0]["port_id"])
    chains = netns_cleanup.filter_chains()
    assert chains is not None and tap in chains
    netns_cleanup.main(["--prefix", lab.backend.netns_prefix,
                        "--bridge-prefix", lab.backend.bridge_prefix])  # lists only
    assert f"filter chain netdev astara_antispoof {tap}" not in capsys.readouterr().out
    sh("ip", "netns", "del", ns)  # the instance is gone, its tap with it, the chain stays
    wait_for(lambda: not Path(f"/sys/class/net/{tap}").exists(), what="the tap going")
    assert tap in (netns_cleanup.filter_chains() or set())
    netns_cleanup.main(["--force", "--prefix", lab.backend.netns_prefix,
                        "--bridge-prefix", lab.backend.bridge_prefix])
    assert f"filter chain netdev astara_antispoof {tap}" in capsys.readouterr().out
    assert tap not in (netns_cleanup.filter_chains() or set())


def test_chains_go_with_an_orphan_and_stale_ones_are_swept(lab):
    net_id = str(uuid.uuid4())
    orphan, _ = lab.instance(net_id, A_MAC, [f"{A_IP}/24"], port_security_enabled=True)
    other, _ = lab.instance(net_id, B_MAC, [f"{B_IP}/24"], port_security_enabled=True)
    tap, other_tap = (lab.backend.tap(s.ports[0]["port_id"]) for s in (orphan, other))
    assert not {tap, other_tap} & set(lab.backend.sweep_filters())  # both taps are there

    def chains() -> set[str]:
        out = sh("nft", "-j", "list", "table", "netdev", antispoof.TABLE, check=False)
        return antispoof.chains(json.loads(out.stdout)) if out.returncode == 0 else set()

    assert {tap, other_tap} <= chains()
    # an orphan's teardown knows no ports: its chains are found through its veths
    lab.backend.delete(InstanceSpec(orphan.id, "", "tenant", ()))
    assert tap not in chains()
    # a tap removed by hand leaves its chain: the orphans pass sweeps it
    sh("ip", "link", "del", other_tap)
    assert other_tap in chains()
    assert other_tap in lab.backend.sweep_filters()
    assert other_tap not in chains()


def test_a_port_with_many_ipv6_pairs_loads_and_still_drops_spoofed_adverts(lab):
    """200 IPv6 address pairs: more targets than one rule may compare (the kernel
    refused the inline rule, so the plug failed); the advertisement for a neighbour's
    address is dropped, one for the port's last pair passes."""
    net_id = str(uuid.uuid4())
    victim = lab.plain(net_id, "v", VICTIM_MAC, [f"{VICTIM}/24", f"{VICTIM6}/64"])
    pairs = [f"fd78:{i + 1:x}::a" for i in range(200)]
    spec, a = lab.instance(net_id, A_MAC, [f"{A_IP}/24", f"{A_IP6}/64"],
                           port_security_enabled=True,
                           allowed_address_pairs=[{"ip_address": p} for p in pairs])
    tap = lab.backend.tap(spec.ports[0]["port_id"])
    chain = sh("nft", "list", "chain", "netdev", antispoof.TABLE, tap).stdout
    assert pairs[-1] in chain  # loaded, the pairs' rules with it
    ll = str(antispoof.link_local(A_MAC))
    attack = {t: fr.ether(fr.multicast_mac("ff02::1"), A_MAC, fr.ETH_P_IPV6,
                          fr.neighbor_advert(ll, target, A_MAC, t))
              for t, target in ((token(), B_IP6), (token(), pairs[-1]), (token(), A_IP6))}
    got = lab.exchange(victim, a, list(attack.values()), marker_from(A_MAC, A_IP))
    assert [t for t in attack if any(t in f for f in got)] == list(attack)[1:]
