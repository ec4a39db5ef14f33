"""The appliance moves packets: a router namespace driven only through its REST API.

Topology (see `topology.py`): upstream 203.0.113.1 on the external bridge, a
controller fdca::1 on the management bridge (test API client + fake metadata
server), hosts h1 (dual-stack) and h3 on net1, h2 on net2, h4 on net3 (added
later). Runs as root with nft, dnsmasq and dhclient; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import copy
import http.server
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import httpx
import pytest
from tests.support import wait_for
from topology import Topology, sh

from astara.appliance.apply.netns import entered
from astara.appliance.host import Host
from astara.wire import auth, examples

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("nft", "dnsmasq", "dhclient", "ip")),
                       reason="needs nft, dnsmasq, dhclient and iproute2"),
]

H1, H2, H3, H4 = (f"fa:16:3e:aa:00:0{i}" for i in (1, 2, 3, 4))
INT3_MAC = "fa:16:3e:00:00:05"
ECHO_PORT = 7000
SECRET = auth.appliance_secret(b"functional-key", "r1")


def alloc(mac, *ips, hostname=None):
    return {"mac_address": mac, "ip_addresses": list(ips), "hostname": hostname}


def base_document():
    doc = examples.router_document()
    doc["networks"][2]["allocations"] = [alloc(H1, "192.0.2.10", hostname="h1")]
    doc["networks"][3]["allocations"] = [alloc(H2, "198.51.100.10", hostname="h2")]
    doc["floating_ips"] = [{"floating_ip": "203.0.113.10", "fixed_ip": "192.0.2.10"}]
    return doc


def echo_server(topo: Topology, netns: str, label: str) -> None:
    """Per line received, answer '<label> <peer address>' (thread, socket in `netns`)."""
    with entered(netns):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", ECHO_PORT))
    srv.listen(8)

    def serve_one(conn, peer):
        with conn, conn.makefile("rwb") as f:
            for _line in f:
                f.write(f"{label} {peer[0]}\n".encode())
                f.flush()

    def loop():
        while True:
            try:
                conn, peer = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn, peer), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    topo.servers.append(srv)


def ask(sock: socket.socket) -> str:
    sock.sendall(b"hi\n")
    return sock.recv(200).decode().strip()


def connect(topo, netns, address, timeout=3.0) -> socket.socket:
    with entered(netns):
        sock = socket.create_connection((address, ECHO_PORT), timeout=timeout)
    return sock


class MetadataHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = f"{self.headers['X-Forwarded-For']} {self.headers['X-Astara-Router']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class MetadataServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # dnsmasq drops root and re-reads its hosts files on SIGHUP: the state
    # directory must be traversable, which pytest's own tmp tree (0700) is not.
    work = Path(tempfile.mkdtemp(prefix="astara-appliance-"))
    work.chmod(0o755)
    topo = Topology(work)
    topo.servers = []
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    host = Host(work / "state", lambda name: SECRET, api_port=5000)
    try:
        rtr, up, ctl = topo.netns("rtr"), topo.netns("up"), topo.netns("ctl")
        topo.plug(rtr, "mgmt", "ge0", examples.MGMT_MAC)
        topo.plug(rtr, "ext", "ge1", examples.EXT_MAC)
        topo.plug(rtr, "n1", "ge2", examples.INT1_MAC)
        topo.plug(rtr, "n2", "ge3", examples.INT2_MAC)
        # As the compute agent plugs a router's ports with no IPv6 fixed IP: IPv6 off
        # (ge2's IPv6 subnet taken for one added since the plug: the agent turns it on)
        with entered(rtr):
            for ifname in ("ge1", "ge2", "ge3"):
                Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").write_text("1\n")
        topo.plug(up, "ext", "eth0", "fa:16:3e:bb:00:01")
        topo.up(up, "eth0", "203.0.113.1/24")
        topo.plug(ctl, "mgmt", "eth0", "fa:16:3e:bb:00:02")
        topo.up(ctl, "eth0", "fdca::1/64")
        hosts = {}
        for role, net, mac in (("h1", "n1", H1), ("h2", "n2", H2), ("h3", "n1", H3)):
            hosts[role] = topo.netns(role)
            topo.plug(hosts[role], net, "eth0", mac)
            topo.up(hosts[role], "eth0")
        echo_server(topo, up, "up")
        for role in ("h1", "h3"):
            echo_server(topo, hosts[role], role)
        with entered(ctl):
            md = MetadataServer(("fdca::1", 9697), MetadataHandler, bind_and_activate=False)
        md.server_bind()
        md.server_activate()
        threading.Thread(target=md.serve_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(
            host.add("r1", rtr, examples.MGMT_MAC, "fdca::2/64"), loop).result(10)

        def api(method, path, **kw):
            with entered(ctl):
                return httpx.request(method, f"http://[fdca::2]:5000{path}", timeout=20,
                                     headers={auth.HEADER: auth.bearer(SECRET)}, **kw)

        yield dict(topo=topo, host=host, loop=loop, api=api, rtr=rtr, up=up, ctl=ctl,
                   state=work / "state" / "r1", **hosts)
        md.shutdown()
    finally:
        try:
            asyncio.run_coroutine_threadsafe(host.close(), loop).result(20)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            for srv in topo.servers:
                srv.close()
            topo.destroy()
            shutil.rmtree(work, ignore_errors=True)


def put(lab, doc, status=200):
    res = lab["api"]("PUT", "/v1/system/config/", json=doc)
    assert res.status_code == status, res.text
    return res.json()


def dnsmasq_pids(lab):
    services = lab["api"]("GET", "/v1/status/").json()["services"]
    return {s["name"]: s["detail"] for s in services if s["name"].startswith("dnsmasq")}


def test_01_first_config_and_leases(lab):
    body = put(lab, base_document())
    assert body["nft"] == "full" and body["dhcp"] == ["start ge2", "start ge3"]
    assert put(lab, base_document())["changed"] is False  # identical push: no-op
    topo = lab["topo"]
    lease = topo.dhclient(lab["h1"], "eth0")
    assert lease["new_ip_address"] == "192.0.2.10" and lease["new_routers"] == "192.0.2.1"
    addrs = topo.run(lab["h1"], "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "192.0.2.10/24" in addrs
    assert topo.dhclient(lab["h2"], "eth0")["new_ip_address"] == "198.51.100.10"

    def slaac():
        topo.run(lab["h1"], "rdisc6", "-1", "-w", "500", "eth0", check=False)
        out = topo.run(lab["h1"], "ip", "-6", "-o", "addr", "show", "eth0", "scope",
                       "global").stdout
        return "fd00:1::f816:3eff:feaa:1/64" in out
    wait_for(slaac, what="a SLAAC address from the router's RA")
    # IPv6 turned on where the document gives an IPv6 address only
    with entered(lab["rtr"]):
        off = {i: Path(f"/proc/sys/net/ipv6/conf/{i}/disable_ipv6").read_text().strip()
               for i in ("ge0", "ge1", "ge2", "ge3")}
    assert off == {"ge0": "0", "ge1": "1", "ge2": "0", "ge3": "1"}


def test_02_internal_subnets_reach_each_other(lab):
    topo = lab["topo"]
    assert topo.run(lab["h1"], "ping", "-c1", "-W2", "198.51.100.10", check=False).returncode == 0
    assert topo.run(lab["h2"], "ping", "-c1", "-W2", "192.0.2.10", check=False).returncode == 0


def test_03_snat_and_floating_ip_source(lab):
    with connect(lab["topo"], lab["h2"], "203.0.113.1") as s:
        assert ask(s) == "up 203.0.113.2"  # upstream sees the router's external address
    with connect(lab["topo"], lab["h1"], "203.0.113.1") as s:
        assert ask(s) == "up 203.0.113.10"  # a host with a floating IP leaves by it
    stats = lab["api"]("GET", "/v1/system/stats/").json()
    assert stats["nat"]["snat_packets"] > 0 and stats["interfaces"]["ge1"]["tx_bytes"] > 0


def test_04_upstream_reaches_host_through_floating_ip(lab):
    with connect(lab["topo"], lab["up"], "203.0.113.10") as s:
        assert s.getpeername()[0] == "203.0.113.10"
        assert ask(s) == "h1 203.0.113.1"


def test_05_changes_keep_connections_and_dnsmasq(lab):
    topo = lab["topo"]
    established = connect(topo, lab["h2"], "203.0.113.1")
    assert ask(established) == "up 203.0.113.2"
    pids = dnsmasq_pids(lab)
    assert set(pids) == {"dnsmasq-ge2", "dnsmasq-ge3"}

    doc = base_document()  # add an allocation: h3 gets a lease
    doc["networks"][2]["allocations"].append(alloc(H3, "192.0.2.11", hostname="h3"))
    assert put(lab, doc)["dhcp"] == ["reload ge2"]
    assert topo.dhclient(lab["h3"], "eth0")["new_ip_address"] == "192.0.2.11"

    via_fip = connect(topo, lab["up"], "203.0.113.10")  # to h1, through its floating IP
    assert ask(via_fip) == "h1 203.0.113.1"
    doc["floating_ips"] = [{"floating_ip": "203.0.113.10", "fixed_ip": "192.0.2.11"}]
    assert put(lab, doc)["nft"] == "delta"  # move the floating IP to h3
    with connect(topo, lab["up"], "203.0.113.10") as s:
        assert ask(s) == "h3 203.0.113.1"
    assert ask(via_fip) == "h1 203.0.113.1"  # the established connection stays with h1
    doc["floating_ips"].append({"floating_ip": "203.0.113.11", "fixed_ip": "192.0.2.10"})
    body = put(lab, doc)  # another floating IP, now for h1: answered by ARP at once
    assert body["nft"] == "delta" and body["netlink_ops"] == 0
    with connect(topo, lab["up"], "203.0.113.11") as s:
        assert ask(s) == "h1 203.0.113.1"
    doc["floating_ips"].pop()
    assert put(lab, doc)["nft"] == "delta"
    assert "203.0.113.11" not in lab["api"]("GET", "/v1/firewall/rules/").text
    assert ask(via_fip) == "h1 203.0.113.1"
    via_fip.close()

    h4 = topo.netns("h4")  # add an internal network, with a host on it
    topo.plug(lab["rtr"], "n3", "ge4", INT3_MAC)
    topo.plug(h4, "n3", "eth0", H4)
    topo.up(h4, "eth0")
    net3 = examples.internal_network("net3", INT3_MAC, "100.64.3.1/24")  # RFC 6598 space
    net3["allocations"] = [alloc(H4, "100.64.3.10")]
    doc["networks"].append(net3)
    assert put(lab, doc)["dhcp"] == ["start ge4"]
    assert topo.dhclient(h4, "eth0")["new_ip_address"] == "100.64.3.10"
    assert topo.run(h4, "ping", "-c1", "-W2", "198.51.100.10", check=False).returncode == 0

    doc["networks"][3]["allocations"] = []  # remove an allocation
    assert put(lab, doc)["dhcp"] == ["reload ge3"]
    assert "198.51.100.10" not in (lab["state"] / "dnsmasq-ge3.hosts").read_text()

    now = dnsmasq_pids(lab)
    assert {k: now[k] for k in pids} == pids  # never restarted, only SIGHUPed
    assert ask(established) == "up 203.0.113.2"  # the TCP connection survived it all
    established.close()
    lab["doc"] = doc


def test_05a_extra_routes_are_installed_and_forward(lab):
    """A router route (Neutron extraroute) to a network behind h3: h2 reaches it through
    h3, with no address translation; removing the route removes it from the kernel."""
    topo = lab["topo"]
    topo.run(lab["h3"], "ip", "addr", "add", "10.20.0.1/32", "dev", "lo")
    try:
        doc = copy.deepcopy(lab["doc"])
        doc["routes"] = [{"destination": "10.20.0.0/24", "nexthop": "192.0.2.11"}]
        assert put(lab, doc)["netlink_ops"] == 1
        installed = topo.run(lab["rtr"], "ip", "-4", "route", "show", "10.20.0.0/24").stdout
        assert "via 192.0.2.11 dev ge2 proto static" in installed
        with connect(topo, lab["h2"], "10.20.0.1") as s:
            assert ask(s) == "h3 198.51.100.10"
        assert put(lab, lab["doc"])["netlink_ops"] == 1
        assert topo.run(lab["rtr"], "ip", "-4", "route", "show", "10.20.0.0/24").stdout == ""
    finally:
        lab["api"]("PUT", "/v1/system/config/", json=lab["doc"])  # later tests start from it
        topo.run(lab["h3"], "ip", "addr", "del", "10.20.0.1/32", "dev", "lo", check=False)


def test_05b_without_snat_only_floating_ips_are_translated(lab):
    """enable_snat=false (Neutron ext-gw-mode): h2 leaves with its own address, h3 still
    by its floating IP; back to the default, h2 is masqueraded again."""
    topo = lab["topo"]
    # upstream learns the way back to the tenant subnet, else nothing untranslated returns
    topo.run(lab["up"], "ip", "route", "add", "198.51.100.0/24", "via", "203.0.113.2")
    try:
        doc = copy.deepcopy(lab["doc"])
        doc["enable_snat"] = False
        assert put(lab, doc)["nft"] == "full"
        with connect(topo, lab["h2"], "203.0.113.1") as s:
            assert ask(s) == "up 198.51.100.10"
        with connect(topo, lab["h3"], "203.0.113.1") as s:
            assert ask(s) == "up 203.0.113.10"
        assert put(lab, lab["doc"])["changed"] is True
        with connect(topo, lab["h2"], "203.0.113.1") as s:
            assert ask(s) == "up 203.0.113.2"
    finally:
        lab["api"]("PUT", "/v1/system/config/", json=lab["doc"])
        topo.run(lab["up"], "ip", "route", "del", "198.51.100.0/24", check=False)


def test_05c_a_change_in_the_namespace_is_heard_on_the_hosts_shared_socket(lab):
    """The router's kept status answer is made stale by a link added inside its
    namespace behind the agent's back: heard on the host's shared socket (its
    namespace's id), as the router has no change socket of its own."""
    entry = lab["host"].entries["r1"]
    assert entry.nsid is not None and entry.signals == []

    def names() -> set[str]:
        return {i["ifname"] for i in lab["api"]("GET", "/v1/status/").json()["interfaces"]}

    assert "probe0" not in names() and "probe0" not in names()  # the second one is kept
    topo = lab["topo"]
    topo.run(lab["rtr"], "ip", "link", "add", "probe0", "type", "veth", "peer", "name", "probe1")
    try:
        wait_for(lambda: "probe0" in names(), 10, "the status to show the new link")
    finally:
        topo.run(lab["rtr"], "ip", "link", "del", "probe0", check=False)
    wait_for(lambda: "probe0" not in names(), 10, "the status to drop the link again")


def test_06_invalid_config_is_rejected_and_old_one_keeps_forwarding(lab):
    topo, good = lab["topo"], lab["doc"]
    digest = lab["api"]("GET", "/v1/status/").json()["config_digest"]
    bad_version = dict(copy.deepcopy(good), version="9")
    assert "unsupported config version '9'" in put(lab, bad_version, 422)["error"]
    bad_field = copy.deepcopy(good)
    bad_field["floating_ips"].append({"floating_ip": "not-an-ip", "fixed_ip": "192.0.2.12"})
    assert put(lab, bad_field, 422)["details"]
    bad_mac = copy.deepcopy(good)
    bad_mac["networks"][3]["interface"]["mac_address"] = "fa:16:3e:99:99:99"
    assert "no interface with MAC" in put(lab, bad_mac, 422)["error"]
    # valid document the kernel refuses half-way (unreachable next hop): rolled back
    unreachable = copy.deepcopy(good)
    unreachable["floating_ips"].append({"floating_ip": "203.0.113.12", "fixed_ip": "192.0.2.12"})
    unreachable["routes"] = [{"destination": "10.0.0.0/8", "nexthop": "10.99.99.99"}]
    assert put(lab, unreachable, 500)["error"]
    addrs = topo.run(lab["rtr"], "ip", "-o", "addr", "show", "ge1").stdout
    assert "203.0.113.12" not in addrs
    assert "203.0.113.12" not in lab["api"]("GET", "/v1/firewall/rules/").text
    with connect(topo, lab["up"], "203.0.113.10") as s:
        assert ask(s) == "h3 203.0.113.1"
    assert topo.run(lab["h1"], "ping", "-c1", "-W2", "198.51.100.10", check=False).returncode == 0
    assert put(lab, good)["changed"] is True  # after an error, the same push re-applies
    assert lab["api"]("GET", "/v1/status/").json()["config_digest"] == digest


def test_07_tenants_cannot_reach_the_api_and_metadata_is_proxied(lab):
    for address in ("192.0.2.1", "203.0.113.2"):
        with entered(lab["h1"]):
            sock = socket.socket()
        sock.settimeout(1)
        with pytest.raises(OSError), sock:
            sock.connect((address, 5000))
    assert lab["api"]("GET", "/v1/system/interface/ge1/").json()["interface"]["up"]
    with entered(lab["h1"]):
        sock = socket.create_connection(("169.254.169.254", 80), timeout=5)
    with sock:
        sock.sendall(b"GET /latest/meta-data/ HTTP/1.0\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
        reply = sock.makefile("rb").read().decode()
    # re-framed by the proxy (h11 answers as HTTP/1.1, which a 1.0 client reads)
    assert reply.startswith("HTTP/1.1 200") and reply.endswith("192.0.2.10 ak-router-1")
    # a bare-LF header hides a second X-Forwarded-For from a CRLF-only filter: refused
    with entered(lab["h1"]):
        sock = socket.create_connection(("169.254.169.254", 80), timeout=5)
    with sock:
        sock.sendall(b"GET /latest/meta-data/ HTTP/1.0\r\nX-Note: a\n"
                     b"X-Forwarded-For: 6.6.6.6\r\n\r\n")
        reply = sock.makefile("rb").read().decode()
    assert reply.startswith("HTTP/1.1 400 ") and "6.6.6.6" not in reply


def _neighbour_mac(lab, netns: str, address: str) -> str | None:
    out = lab["topo"].run(netns, "ip", "neigh", "show", address, "dev", "eth0").stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def test_07b_addresses_taken_over_are_announced(lab):
    """A neighbour still holding another MAC for an address the router takes over (a
    new external address, an IPv6 address, a floating IP moved here) learns the
    router's at once, from its gratuitous ARP or neighbour advertisement, instead of
    when its entry goes stale (a stale entry nobody uses would never change)."""
    topo, old_mac = lab["topo"], "fa:16:3e:99:00:01"
    stale = ((lab["up"], "203.0.113.3"), (lab["up"], "203.0.113.20"),
             (lab["h1"], "fd00:1::5"))
    for netns, address in stale:
        topo.run(netns, "ip", "neigh", "replace", address, "lladdr", old_mac, "dev", "eth0",
                 "nud", "stale")
        assert _neighbour_mac(lab, netns, address) == old_mac
    try:
        doc = copy.deepcopy(lab["doc"])
        doc["networks"][1]["interface"]["addresses"].append("203.0.113.3/24")
        doc["networks"][2]["interface"]["addresses"].append("fd00:1::5/64")
        assert put(lab, doc)["changed"] is True  # the full path: new addresses
        wait_for(lambda: _neighbour_mac(lab, lab["up"], "203.0.113.3") == examples.EXT_MAC,
                 10, "the new address announced")
        wait_for(lambda: _neighbour_mac(lab, lab["h1"], "fd00:1::5") == examples.INT1_MAC,
                 10, "the new IPv6 address advertised")
        doc["floating_ips"].append({"floating_ip": "203.0.113.20", "fixed_ip": "192.0.2.10"})
        assert put(lab, doc)["nft"] == "delta"  # the floating IP shortcut
        wait_for(lambda: _neighbour_mac(lab, lab["up"], "203.0.113.20") == examples.EXT_MAC,
                 10, "the new floating IP announced")
    finally:
        lab["api"]("PUT", "/v1/system/config/", json=lab["doc"])
        for netns, address in stale:
            topo.run(netns, "ip", "neigh", "del", address, "dev", "eth0", check=False)


def test_08_teardown_leaves_nothing(lab):
    pids = [int(d.split()[1]) for d in dnsmasq_pids(lab).values()]
    asyncio.run_coroutine_threadsafe(lab["host"].remove("r1"), lab["loop"]).result(20)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)
    assert list(lab["state"].iterdir()) == []
    topo = lab["topo"]
    names = list(topo.namespaces)
    topo.destroy()
    assert not set(names) & set(os.listdir("/run/netns"))
    assert topo.id not in sh("ip", "-o", "link").stdout  # nothing leaked into the host
