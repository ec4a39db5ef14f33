"""Render dnsmasq files for one internal interface. Pure.

Called by `converge`; `apply.dnsmasq` writes, checks and (re)loads them. One
dnsmasq serves one interface, so adding a network starts a new process and leaves
the others alone. The main file (ranges, RA) changes only with the subnets and
needs a restart of that one process; everything that changes with ports lives in
the files dnsmasq re-reads on SIGHUP: hosts (static leases), opts, addn-hosts.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from astara.wire.appliance_config import Network, Subnet

LEASE = "86400s"
_V6_MODE = {"slaac": "ra-only", "dhcpv6-stateless": "ra-stateless", "dhcpv6-stateful": "static"}


@dataclass(frozen=True)
class DnsmasqFiles:
    ifname: str
    conf: str
    hosts: str
    opts: str
    addn_hosts: str

    def reloadable(self) -> tuple[str, str, str]:
        return (self.hosts, self.opts, self.addn_hosts)


def paths(state_dir: Path, ifname: str) -> dict[str, Path]:
    base = state_dir / f"dnsmasq-{ifname}"
    return {k: Path(f"{base}.{k}") for k in ("conf", "hosts", "opts", "addn_hosts", "pid",
                                             "leases", "log")}


def tag(subnet: Subnet) -> str:
    return "s" + hashlib.sha256(str(subnet.cidr).encode()).hexdigest()[:8]


def served(net: Network) -> list[Subnet]:
    return [
        s for s in net.subnets
        if (s.cidr.version == 4 and s.dhcp_enabled) or (s.cidr.version == 6 and s.ipv6_ra_mode)
    ]


def render(net: Network, ifname: str, state_dir: Path,
           upstream_dns: tuple[str, ...] = (), follow_addresses: bool = False) -> DnsmasqFiles:
    """`follow_addresses`: the interface's addresses come and go (an HA member's are
    keepalived's), so dnsmasq binds them as they appear (bind-dynamic)."""
    p = paths(state_dir, ifname)
    conf = [
        f"interface={ifname}",
        "bind-dynamic" if follow_addresses else "bind-interfaces",
        "except-interface=lo",
        "no-resolv",
        "no-hosts",
        "dhcp-authoritative",
        "enable-ra",
        f"dhcp-hostsfile={p['hosts']}",
        f"dhcp-optsfile={p['opts']}",
        f"addn-hosts={p['addn_hosts']}",
        f"dhcp-leasefile={p['leases']}",
        f"pid-file={p['pid']}",
        f"log-facility={p['log']}",
        f"ra-param={ifname},mtu:{net.interface.mtu},30",
    ]
    conf += [f"server={ip}" for ip in upstream_dns]
    opts = []
    for subnet in served(net):
        t = tag(subnet)
        if subnet.cidr.version == 4:
            conf.append(f"dhcp-range=set:{t},{subnet.cidr.network_address},static,"
                        f"{subnet.cidr.netmask},{LEASE}")
            opts += _v4_options(t, subnet, net.interface.mtu)
        else:
            mode = _V6_MODE[subnet.ipv6_ra_mode or "slaac"]
            extra = f",{subnet.cidr.prefixlen},{LEASE}" if mode == "static" else ""
            conf.append(f"dhcp-range=set:{t},{subnet.cidr.network_address},{mode}{extra}")
            if subnet.dns_nameservers:
                servers = ",".join(f"[{ip}]" for ip in subnet.dns_nameservers)
                opts.append(f"tag:{t},option6:dns-server,{servers}")
    hosts, names = [], []
    for alloc in sorted(net.allocations, key=lambda a: a.mac_address):
        v4 = [str(ip) for ip in alloc.ip_addresses if ip.version == 4][:1]
        v6 = [f"[{ip}]" for ip in alloc.ip_addresses if ip.version == 6][:1]
        name = [alloc.hostname] if alloc.hostname else []
        hosts.append(",".join([alloc.mac_address, *v4, *v6, *name, LEASE]))
        if alloc.hostname:
            names += [f"{ip} {alloc.hostname}" for ip in alloc.ip_addresses]
    return DnsmasqFiles(
        ifname=ifname,
        conf=_lines(conf),
        hosts=_lines(hosts),
        opts=_lines(opts),
        addn_hosts=_lines(names),
    )


def _v4_options(t: str, subnet: Subnet, mtu: int) -> list[str]:
    opts = [f"tag:{t},option:mtu,{mtu}"]
    gateway = subnet.gateway_ip
    opts.append(f"tag:{t},option:router" + (f",{gateway}" if gateway else ""))
    if subnet.dns_nameservers:
        opts.append(f"tag:{t},option:dns-server," + ",".join(map(str, subnet.dns_nameservers)))
    routes = [(str(r.destination), str(r.nexthop)) for r in subnet.host_routes
              if isinstance(r.destination, ipaddress.IPv4Network)]
    if routes:
        if gateway:
            routes.append(("0.0.0.0/0", str(gateway)))
        opts.append(f"tag:{t},option:classless-static-route,"
                    + ",".join(f"{d},{n}" for d, n in routes))
    return opts


def _lines(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)
