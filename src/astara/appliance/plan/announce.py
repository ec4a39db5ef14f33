"""Which addresses an apply took over and must announce (pure).

A neighbour that talked to an address's previous owner (a deleted load balancer's VIP
reused, a floating IP moved from another router) keeps sending to the old MAC until
its ARP entry goes stale, seconds later. So every IPv4 address an apply newly added
(`AddAddress` ops that took effect) and every floating IP newly answered on the
external interface is announced from its interface (gratuitous ARP), and every new
global IPv6 address too (unsolicited neighbour advertisement). `apply.announce` sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from astara.appliance.plan.ops import AddAddress, Op
from astara.wire.appliance_config import ApplianceConfig


@dataclass(frozen=True)
class Announcement:
    ifname: str
    ip: str
    mac: str  # the interface's, which the neighbours must learn


def announcements(config: ApplianceConfig, names: Mapping[str, str], done: Iterable[Op],
                  old_fips: frozenset[tuple[int, int]],
                  new_fips: frozenset[tuple[int, int]]) -> tuple[Announcement, ...]:
    """`names`: network_id -> ifname (as the apply resolved them); `done`: the netlink
    ops that took effect; `old_fips`/`new_fips`: (floating, fixed) before and after."""
    macs = {names[n.network_id]: n.interface.mac_address
            for n in config.networks if n.network_id in names}
    out: list[Announcement] = []
    for op in done:
        if isinstance(op, AddAddress) and op.ifname in macs:
            ip = ipaddress.ip_interface(op.cidr).ip
            if ip.version == 4 or not ip.is_link_local:
                out.append(Announcement(op.ifname, str(ip), macs[op.ifname]))
    taken = {f for f, _ in new_fips} - {f for f, _ in old_fips}
    external = [n for n in config.network("external") if n.network_id in names]
    if taken and external:
        ifname = names[external[0].network_id]
        out.extend(Announcement(ifname, str(ipaddress.IPv4Address(f)), macs[ifname])
                   for f in sorted(taken))
    return tuple(dict.fromkeys(out))
