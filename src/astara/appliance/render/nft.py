"""Render the appliance firewall and NAT as nftables text. Pure.

Called by `converge` with the document and the resolved interface names; the text
goes to `apply.nft` (loaded as one transaction). Table `inet astara` holds the
firewall and NAT; floating IPs live in two maps (`fip_dnat4` floating → fixed,
`fip_snat4` fixed → floating). Floating IPs are not addresses of the external
interface: table `netdev astara` answers ARP requests for the addresses in its
set `fip_arp` on that interface (the request is turned into the reply in place
and sent back out). So a floating IP change is only an element delta
(`fip_delta`): no netlink change, no rebuild of the ruleset.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from astara.appliance.render.conntrackd import PORT as CONNTRACKD_PORT
from astara.wire.appliance_config import ApplianceConfig

TABLE = "inet astara"
ARP_TABLE = "netdev astara"
METADATA_IP = "169.254.169.254"
METADATA_PROXY_PORT = 9697
Pair = tuple[str, str]  # (floating, fixed)


@dataclass(frozen=True)
class Ruleset:
    base: str  # the tables, with empty floating IP maps and set
    floating: frozenset[Pair]

    def full(self, fresh: bool = False) -> str:
        """One transaction replacing both tables (create, delete, recreate); `fresh`
        (neither table is there): creating them only. A transaction that deletes a
        table waits for the kernel to free it (~10 ms, an RCU grace period); one that
        only creates takes ~1.5 ms."""
        replace = "" if fresh else (f"table {TABLE} {{}}\ndelete table {TABLE}\n"
                                    f"table {ARP_TABLE} {{}}\ndelete table {ARP_TABLE}\n")
        return replace + self.base + fip_delta(frozenset(), self.floating)


def arp_responder(ifname: str, mac: str) -> list[str]:
    """Answer ARP requests for @fip_arp arriving on `ifname`, with `mac`.

    ARP payload offsets (bits from the network header): sender MAC 64, sender IP
    112, target MAC 144, target IP 192. The requested IP is saved in the target MAC
    field (overwritten last) while the two IPs are swapped.
    """
    return [
        f"table {ARP_TABLE} {{",
        "  set fip_arp { type ipv4_addr; }",
        "  chain ext_ingress {",
        f'    type filter hook ingress device "{ifname}" priority filter; policy accept;',
        "    arp htype 1 arp ptype ip arp operation request arp daddr ip @fip_arp"
        " @nh,144,32 set @nh,192,32 @nh,192,32 set @nh,112,32 @nh,112,32 set @nh,144,32"
        f" @nh,144,48 set @nh,64,48 arp saddr ether set {mac} arp operation set reply"
        f' ether daddr set ether saddr ether saddr set {mac} fwd to "{ifname}"',
        "  }",
        "}",
        "",
    ]


def _input_head(mgmt: list[str], api_port: int, guard: list[str] | None = None) -> list[str]:
    """The table's opening, the same for a router and a load balancer: its named
    counters and maps (status reads them), and the input chain's first rules: replies,
    loopback, ICMP, and the agent's API from the management network."""
    lines = [
        f"table {TABLE} {{",
        "  counter snat4 {}",
        "  counter dnat4 {}",
        "  map fip_dnat4 { type ipv4_addr : ipv4_addr; }",
        "  map fip_snat4 { type ipv4_addr : ipv4_addr; }",
        "  chain input {",
        "    type filter hook input priority filter; policy drop;",
        *(guard or ()),
        "    ct state established,related accept",
        "    ct state invalid drop",
        '    iifname "lo" accept',
        "    meta l4proto { icmp, ipv6-icmp } accept",
    ]
    if mgmt:
        lines.append(f"    iifname {_set(mgmt)} tcp dport {api_port} accept")
    return lines


def ha_heartbeat(config: ApplianceConfig, mgmt: list[str]) -> list[str]:
    """An HA member hears VRRP adverts and conntrackd's sync from its peer only, on
    the management interface (VRRPv3 has no authentication: this is what keeps
    anyone else from sending adverts). Nothing for a router without HA."""
    if not config.ha.enabled or not mgmt:
        return []
    family = "ip" if config.ha.peers[0].version == 4 else "ip6"
    peers = "{ " + ", ".join(str(p) for p in config.ha.peers) + " }"
    return [
        f"    iifname {_set(mgmt)} {family} saddr {peers} meta l4proto 112 accept",  # VRRP
        f"    iifname {_set(mgmt)} {family} saddr {peers} udp dport {CONNTRACKD_PORT}"
        " accept",
    ]


def ha_guard(config: ApplianceConfig, mgmt: list[str]) -> list[str]:
    """Before the conntrack shortcut (conntrack does not know the interface a packet
    came in on): heartbeat traffic from anywhere but the management interface is
    dropped, so a tenant spoofing the peer's address on a data network cannot ride an
    established sync flow."""
    if not config.ha.enabled or len(mgmt) != 1:
        return []
    return [f'    iifname != "{mgmt[0]}" meta l4proto 112 drop',
            f'    iifname != "{mgmt[0]}" udp dport {CONNTRACKD_PORT} drop']


def _set(names: list[str]) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }" if names else ""


def render(config: ApplianceConfig, names: dict[str, str], api_port: int) -> Ruleset:
    if config.loadbalancer is not None:
        return render_loadbalancer(config, names, api_port)
    mgmt = [names[n.network_id] for n in config.network("management")]
    ext = [names[n.network_id] for n in config.network("external")]
    internal = [names[n.network_id] for n in config.network("internal")]
    ext_v4 = [a.ip for n in config.network("external") for a in n.interface.addresses
              if a.version == 4]
    lines = _input_head(mgmt, api_port, ha_guard(config, mgmt)) + ha_heartbeat(config, mgmt)
    if internal:
        lines += [
            f"    iifname {_set(internal)} udp dport {{ 67, 547 }} accept",
            f"    iifname {_set(internal)} meta l4proto {{ tcp, udp }} th dport 53 accept",
            f"    iifname {_set(internal)} tcp dport {METADATA_PROXY_PORT} ct status dnat accept",
        ]
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
    ]
    if internal:
        lines.append(f"    iifname {_set(internal)} oifname {_set(internal + ext)} accept")
    if ext:
        lines.append(f"    iifname {_set(ext)} ct status dnat accept")
    lines += [
        "  }",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
    ]
    if internal:
        lines.append(
            f"    iifname {_set(internal)} ip daddr {METADATA_IP} tcp dport 80"
            f" redirect to :{METADATA_PROXY_PORT}"
        )
    if ext:
        lines.append(
            f"    iifname {_set(ext)} counter name dnat4 dnat ip to ip daddr map @fip_dnat4"
        )
    lines += [
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
    ]
    if ext:
        lines.append(f"    oifname {_set(ext)} snat ip to ip saddr map @fip_snat4")
        if ext_v4 and config.enable_snat:
            lines.append(
                f"    oifname {_set(ext)} ip saddr != {ext_v4[0]} counter name snat4"
                f" snat ip to {ext_v4[0]}"
            )
    lines += ["  }", "}", ""]
    if config.ha.enabled:
        # An HA member's floating IPs are keepalived's addresses: the master's kernel
        # answers ARP for them; an answer from here would come from the backup too.
        lines += [f"table {ARP_TABLE} {{", "  set fip_arp { type ipv4_addr; }", "}", ""]
    for net in () if config.ha.enabled else config.network("external"):
        lines += arp_responder(names[net.network_id], net.interface.mac_address)
    pairs = frozenset((str(f.floating_ip), str(f.fixed_ip)) for f in config.floating_ips)
    return Ruleset("\n".join(lines), pairs)


def render_loadbalancer(config: ApplianceConfig, names: dict[str, str],
                        api_port: int) -> Ruleset:
    """A load balancer appliance: the agent API from the management network, the
    enabled listeners' ports on the VIP from the other networks, and nothing else; no
    forwarding, no NAT. The counters, maps and ARP table stay (empty), so the rest of
    the agent sees the same tables as on a router."""
    lb = config.loadbalancer
    assert lb is not None
    mgmt = [names[n.network_id] for n in config.network("management")]
    data = [names[n.network_id] for n in config.networks if n.network_type != "management"]
    ports = sorted(x.protocol_port for x in lb.listeners if x.admin_state_up)
    family = "ip" if lb.vip_address.version == 4 else "ip6"
    lines = _input_head(mgmt, api_port)
    if data and ports and lb.admin_state_up:
        lines.append(f"    iifname {_set(data)} {family} daddr {lb.vip_address}"
                     f" tcp dport {{ {', '.join(map(str, ports))} }} accept")
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy drop;",
        "  }",
        "}",
        f"table {ARP_TABLE} {{",
        "  set fip_arp { type ipv4_addr; }",
        "}",
        "",
    ]
    return Ruleset("\n".join(lines), frozenset())


def with_floating_ips(ruleset: Ruleset, old: frozenset[tuple[int, int]],
                      new: frozenset[tuple[int, int]]) -> Ruleset:
    """`ruleset` with its map contents moved from pairs `old` to `new` (integers, as
    `ApplianceConfig.floating_ip_pairs`); only the pairs that changed are formatted."""
    gone = {_pair(p) for p in old - new}
    added = {_pair(p) for p in new - old}
    return Ruleset(ruleset.base, (ruleset.floating - gone) | added)


def _pair(pair: tuple[int, int]) -> Pair:
    return (str(ipaddress.IPv4Address(pair[0])), str(ipaddress.IPv4Address(pair[1])))


def fip_delta(old: frozenset[Pair], new: frozenset[Pair]) -> str:
    """Element changes turning map contents `old` into `new` (deletes first). A moved
    floating IP (same address, another fixed IP) keeps answering ARP throughout."""
    gone, added = sorted(old - new), sorted(new - old)
    moved = {f for f, _ in gone} & {f for f, _ in added}
    out = []
    if gone:
        out.append(f"delete element {TABLE} fip_dnat4 {{ {', '.join(f for f, _ in gone)} }}")
        out.append(f"delete element {TABLE} fip_snat4 {{ {', '.join(x for _, x in gone)} }}")
        if unanswered := [f for f, _ in gone if f not in moved]:
            out.append(f"delete element {ARP_TABLE} fip_arp {{ {', '.join(unanswered)} }}")
    if added:
        out.append(f"add element {TABLE} fip_dnat4 {{ "
                   + ", ".join(f"{f} : {x}" for f, x in added) + " }")
        out.append(f"add element {TABLE} fip_snat4 {{ "
                   + ", ".join(f"{x} : {f}" for f, x in added) + " }")
        if answered := [f for f, _ in added if f not in moved]:
            out.append(f"add element {ARP_TABLE} fip_arp {{ {', '.join(answered)} }}")
    return "".join(line + "\n" for line in out)
