"""DHCPv6 end to end (issue 13), shared by the embedded network service's test
(tests/functional/e2e/test_e2e_dhcpv6.py) and the real Neutron's
(tests/functional/e2e/test_e2e_real_neutron.py): the same scenario, given an
admin and a member openstacksdk connection to either.

One router, its gateway on a dual-stack external network, and two IPv6-only tenant
networks: one ``dhcpv6-stateful``, one ``dhcpv6-stateless``, each with an instance.
Inside each instance's namespace a real DHCPv6 client (``dhclient -6``, as a guest
would run on seeing the RA's M or O flag) asks the appliance's dnsmasq: the stateful
one for its address, the stateless one (``-S``, information-request) for its DNS
servers beside the address it forms by SLAAC.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from astara.burnin.host import Upstream, in_ns
from astara.compute_service.agent.netns import bridge_name
from tests.support import wait_for

UP6 = "2001:db8:ff::1"  # the upstream's IPv6 address (the external v6 subnet's gateway)
STATEFUL, STATELESS = "2001:db8:71::/64", "2001:db8:72::/64"
DNS_STATEFUL = ["2001:db8:71::53"]
DNS_STATELESS = ["2001:db8:72::53", "2001:db8:72::54"]
DNS_CHANGED = ["2001:db8:72::55"]

# The guest's dhclient script: only this namespace's interface, nothing of the host's
# (no resolv.conf); each answer is recorded as one line the test reads.
SCRIPT = """#!/bin/sh
case "$reason" in
PREINIT6) ip link set dev "$interface" up ;;
BOUND6|RENEW6|REBIND6)
  if [ -n "$new_ip6_address" ]; then
    ip -6 addr replace "$new_ip6_address/128" dev "$interface"
  fi
  echo "address=$new_ip6_address dns=$new_dhcp6_name_servers" >> "{record}"
  ;;
esac
exit 0
"""
CONF = "request dhcp6.name-servers;\n"


class Dhcp6Client:
    """``dhclient -6`` in the foreground inside ``ns``; its files under ``directory``.
    ``stop`` kills it by the pid we started (``ip netns exec`` execs it)."""

    def __init__(self, ns: str, ifname: str, directory: Path, stateless: bool):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ns, self.ifname, self.dir, self.stateless = ns, ifname, directory, stateless
        self.record = directory / "answers"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        script = self.dir / "script"
        script.write_text(SCRIPT.replace("{record}", str(self.record)))
        script.chmod(0o700)
        (self.dir / "conf").write_text(CONF)
        self.record.unlink(missing_ok=True)
        mode = ["-S"] if self.stateless else []
        with open(self.dir / "log", "ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "dhclient", "-6", *mode, "-d",
                 "-sf", str(script), "-cf", str(self.dir / "conf"),
                 "-pf", str(self.dir / "pid"), "-lf", str(self.dir / "leases"), self.ifname],
                stdout=subprocess.DEVNULL, stderr=log)

    def answers(self) -> list[tuple[str, list[str]]]:
        """(address, DNS servers) of each answer so far."""
        out = []
        text = self.record.read_text() if self.record.exists() else ""
        for line in text.splitlines():
            fields = dict(f.split("=", 1) for f in line.split(" ", 1))
            out.append((fields["address"], fields["dns"].split()))
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        path = self.dir / "log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def pings(ns: str, address: str) -> bool:
    return in_ns(ns, "ping", "-c1", "-W1", address, check=False).returncode == 0


def link_local_ready(ns: str, ifname: str = "eth0") -> bool:
    """A link-local address past DAD: what a DHCPv6 client binds to (before it, dhclient
    exits with "Can't bind to dhcp address"); a guest's network manager waits the same."""
    return bool(in_ns(ns, "ip", "-6", "-o", "addr", "show", "dev", ifname, "scope", "link",
                      "-tentative").stdout.strip())


RA_FLAGS = ("Stateful address conf.", "Stateful other conf.", "Autonomous address conf.")


def ra_flags(ns: str, ifname: str = "eth0") -> dict[str, bool]:
    """The M and O flags of the RA answering a solicitation (``rdisc6``), and its
    (first) prefix's A flag: what tells a guest to run a DHCPv6 client, and how."""
    out = in_ns(ns, "rdisc6", "-1", "-n", "-r", "5", ifname, check=False).stdout
    flags: dict[str, bool] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in RA_FLAGS and key.strip() not in flags:
            flags[key.strip()] = value.strip() == "Yes"
    return flags


def default_route_v6(ns: str) -> bool:
    """An RA was processed (its default route installed)."""
    return bool(in_ns(ns, "ip", "-6", "route", "show", "default").stdout.strip())


def global_v6(ns: str, ifname: str = "eth0") -> set[str]:
    out = in_ns(ns, "ip", "-6", "-o", "addr", "show", "dev", ifname, "scope", "global").stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines()}


def dnsmasq_files(state: Path) -> str:
    """The appliances' dnsmasq files (config, hosts, options, log): for a failure."""
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-2000:]}"
                     for p in sorted(state.glob("**/dnsmasq-*"))
                     if p.is_file() and p.suffix in (".conf", ".hosts", ".opts", ".log"))


def appliances() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.startswith("astara-appliance-")]


def inform_once(client: Dhcp6Client, timeout: float = 15) -> list[str]:
    """One information-request (a fresh client, as at the guest's next boot): the DNS
    servers answered."""
    client.start()
    try:
        wait_for(lambda: client.answers(), timeout,
                 f"an answer to the information-request\n{client.log()}")
        return client.answers()[-1][1]
    finally:
        client.stop()


@contextlib.contextmanager
def _deleting(admin, user, made: dict, clients: list[Dhcp6Client]) -> Iterator[None]:
    try:
        yield
    finally:
        for c in clients:
            c.stop()
        for vm in made.get("vms", []):
            with contextlib.suppress(Exception):
                user.compute.delete_server(vm)
        for vm in made.get("vms", []):
            with contextlib.suppress(Exception):
                wait_for(lambda vm=vm: not list(admin.network.ports(device_id=vm)), 60,
                         f"instance {vm}'s port deleted")
        if "router" in made:
            for sub in made.get("subs", []):
                with contextlib.suppress(Exception):
                    user.network.remove_interface_from_router(made["router"], subnet_id=sub)
            with contextlib.suppress(Exception):
                user.network.delete_router(made["router"])
            with contextlib.suppress(Exception):
                wait_for(lambda: not appliances(), 180, "the router's appliance removed")
        if "upstream" in made:
            made["upstream"].close()


def exercise(admin, user, state: Path, router_ready: Callable[[str], bool],
             timed: Callable[[str, float], None],
             tag: str) -> None:
    """The scenario; removes what it made (instances, router, upstream), even when it
    fails. ``router_ready(id)``: the router's appliance is configured."""
    made: dict = {"vms": [], "subs": []}
    clients: list[Dhcp6Client] = []
    with _deleting(admin, user, made, clients):
        try:
            _scenario(admin, user, state, router_ready, timed, tag, made, clients)
        except AssertionError as exc:  # what the clients and servers said, before cleanup
            logs = "\n".join(f"--- client {c.dir.name} "
                             f"({'-S' if c.stateless else 'stateful'})\n{c.log()}"
                             for c in clients)
            raise AssertionError(f"{exc}\n{logs}\n{dnsmasq_files(state)}") from None


def _scenario(admin, user, state: Path, router_ready: Callable[[str], bool],
              timed: Callable[[str, float], None], tag: str, made: dict,
              clients: list[Dhcp6Client]) -> None:
    ext = admin.network.create_network(name=f"{tag}-public", is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, cidr="198.51.100.0/24", ip_version=4,
                                is_dhcp_enabled=False, gateway_ip="198.51.100.1",
                                allocation_pools=[{"start": "198.51.100.10",
                                                   "end": "198.51.100.200"}])
    admin.network.create_subnet(network_id=ext.id, cidr="2001:db8:ff::/64",
                                ip_version=6, is_dhcp_enabled=False, gateway_ip=UP6)
    upstream = Upstream(tag, bridge_name("brq", ext.id), "198.51.100.0/24",
                        "198.51.100.1")
    made["upstream"] = upstream
    upstream.open()
    in_ns(upstream.ns, "ip", "-6", "addr", "add", f"{UP6}/64", "dev", "eth0", "nodad")

    nets = {}
    for mode, cidr, dns in (("dhcpv6-stateful", STATEFUL, DNS_STATEFUL),
                            ("dhcpv6-stateless", STATELESS, DNS_STATELESS)):
        net = user.network.create_network(name=f"{tag}-{mode}")
        sub = user.network.create_subnet(network_id=net.id, ip_version=6, cidr=cidr,
                                         ipv6_ra_mode=mode, ipv6_address_mode=mode,
                                         dns_nameservers=dns)
        nets[mode] = (net, sub)
        made["subs"].append(sub.id)
    router = user.network.create_router(name=f"{tag}-r",
                                        external_gateway_info={"network_id": ext.id})
    made["router"] = router.id
    for _net, sub in nets.values():
        user.network.add_interface_to_router(router, subnet_id=sub.id)
    t = time.monotonic()
    wait_for(lambda: router_ready(router.id), 240, "the router's appliance configured")
    timed("router ready after its interfaces were added", t)
    gw6 = next(f["ip_address"] for f in user.network.get_router(router.id)
               .external_gateway_info["external_fixed_ips"] if ":" in f["ip_address"])
    for cidr in (STATEFUL, STATELESS):  # routed, not translated
        in_ns(upstream.ns, "ip", "-6", "route", "add", cidr, "via", gw6)

    vms = {}
    for mode, (net, _sub) in nets.items():
        vm = user.compute.create_server(name=f"{tag}-{mode}", image_id="astara-tenant",
                                        flavor_id="1", networks=[{"uuid": net.id}])
        made["vms"].append(vm.id)
        vms[mode] = vm.id
    booted = time.monotonic()
    for vm in vms.values():
        wait_for(lambda vm=vm: user.compute.get_server(vm).status == "ACTIVE", 120,
                 f"instance {vm} ACTIVE")

    # Stateful: the address is the one the network API allocated to the port (from
    # the pool, not EUI-64), leased by DHCPv6; no SLAAC address beside it.
    vm = vms["dhcpv6-stateful"]
    ns = f"astara-vm-{vm}"
    port = next(iter(user.network.ports(device_id=vm)))
    fixed = [f["ip_address"] for f in port.fixed_ips]
    assert len(fixed) == 1, fixed
    client = Dhcp6Client(ns, "eth0", state / "dhcpv6" / vm, stateless=False)
    clients.append(client)
    wait_for(lambda: link_local_ready(ns), 30, "the instance's link-local address usable")
    t = time.monotonic()
    client.start()
    wait_for(lambda: any(a == fixed[0] for a, _dns in client.answers()), 60,
             f"the instance leases {fixed[0]} by DHCPv6\n{client.log()}")
    timed("stateful: DHCPv6 address acquired (client started -> leased)", t)
    timed("stateful: instance created -> DHCPv6 address acquired", booted)
    assert {a for a, _dns in client.answers()} == {fixed[0]}, client.answers()
    assert client.answers()[-1][1] == DNS_STATEFUL, client.answers()
    # "managed", and the prefix not for SLAAC: once an RA was processed, the leased
    # address is the only global one
    assert ra_flags(ns) == dict.fromkeys(RA_FLAGS[:2], True) | {RA_FLAGS[2]: False}, \
        ra_flags(ns)
    wait_for(lambda: default_route_v6(ns), 30, "the instance processed an RA")
    assert global_v6(ns) == {fixed[0]}, global_v6(ns)
    t = time.monotonic()
    wait_for(lambda: pings(ns, UP6), 60, "the instance reaches upstream over IPv6")
    timed("stateful: leased -> upstream reached through the router", t)

    # Stateless: the address is SLAAC's (the port's EUI-64 fixed IP), the DNS
    # servers come by information-request.
    vm = vms["dhcpv6-stateless"]
    ns = f"astara-vm-{vm}"
    port = next(iter(user.network.ports(device_id=vm)))
    fixed = [f["ip_address"] for f in port.fixed_ips]
    assert len(fixed) == 1, fixed
    wait_for(lambda: global_v6(ns) == {fixed[0]}, 60,
             f"the instance forms {fixed[0]} by SLAAC")
    timed("stateless: instance created -> SLAAC address", booted)
    assert ra_flags(ns) == {RA_FLAGS[0]: False, RA_FLAGS[1]: True, RA_FLAGS[2]: True}, \
        ra_flags(ns)
    wait_for(lambda: pings(ns, UP6), 60, "the instance reaches upstream over IPv6")
    client = Dhcp6Client(ns, "eth0", state / "dhcpv6" / vm, stateless=True)
    clients.append(client)
    t = time.monotonic()
    assert inform_once(client) == DNS_STATELESS, client.answers()
    timed("stateless: DNS servers learned by information-request", t)
    assert all(a == "" for a, _dns in client.answers()), client.answers()
    assert global_v6(ns) == {fixed[0]}

    # A change of the subnet's DNS servers reaches the instance's next request.
    t = time.monotonic()
    user.network.update_subnet(nets["dhcpv6-stateless"][1], dns_nameservers=DNS_CHANGED)
    wait_for(lambda: inform_once(client) == DNS_CHANGED, 90,
             f"the new DNS servers answered\n{client.log()}")
    timed("stateless: dns_nameservers changed -> answered to the next request", t)
