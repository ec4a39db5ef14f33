"""Render the appliance firewall and NAT as nftables text. Pure.

Called by `converge` with the document and the resolved interface names; the text
goes to `apply.nft` (checked with `nft -c`, then loaded as one transaction). One
table (`inet astara`) holds everything. Floating IPs live in two maps
(`fip_dnat4` floating → fixed, `fip_snat4` fixed → floating), so a floating IP
change is an element delta (`fip_delta`), not a rebuild of the ruleset.
"""

from __future__ import annotations

from dataclasses import dataclass

from astara.wire.appliance_config import ApplianceConfig

TABLE = "inet astara"
METADATA_IP = "169.254.169.254"
METADATA_PROXY_PORT = 9697
Pair = tuple[str, str]  # (floating, fixed)


@dataclass(frozen=True)
class Ruleset:
    base: str  # the table, with empty floating IP maps
    floating: frozenset[Pair]

    def full(self) -> str:
        """One transaction replacing the whole table (create, delete, recreate)."""
        return (
            f"table {TABLE} {{}}\ndelete table {TABLE}\n{self.base}"
            + fip_delta(frozenset(), self.floating)
        )


def _set(names: list[str]) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }" if names else ""


def render(config: ApplianceConfig, names: dict[str, str], api_port: int) -> Ruleset:
    mgmt = [names[n.network_id] for n in config.network("management")]
    ext = [names[n.network_id] for n in config.network("external")]
    internal = [names[n.network_id] for n in config.network("internal")]
    ext_v4 = [a.ip for n in config.network("external") for a in n.interface.addresses
              if a.version == 4]
    lines = [
        f"table {TABLE} {{",
        "  counter snat4 {}",
        "  counter dnat4 {}",
        "  map fip_dnat4 { type ipv4_addr : ipv4_addr; }",
        "  map fip_snat4 { type ipv4_addr : ipv4_addr; }",
        "  chain input {",
        "    type filter hook input priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        '    iifname "lo" accept',
        "    meta l4proto { icmp, ipv6-icmp } accept",
    ]
    if mgmt:
        lines.append(f"    iifname {_set(mgmt)} tcp dport {api_port} accept")
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
        if ext_v4:
            lines.append(
                f"    oifname {_set(ext)} ip saddr != {ext_v4[0]} counter name snat4"
                f" snat ip to {ext_v4[0]}"
            )
    lines += ["  }", "}", ""]
    pairs = frozenset((str(f.floating_ip), str(f.fixed_ip)) for f in config.floating_ips)
    return Ruleset("\n".join(lines), pairs)


def fip_delta(old: frozenset[Pair], new: frozenset[Pair]) -> str:
    """Element changes turning map contents `old` into `new` (deletes first)."""
    gone, added = sorted(old - new), sorted(new - old)
    out = []
    if gone:
        out.append(f"delete element {TABLE} fip_dnat4 {{ {', '.join(f for f, _ in gone)} }}")
        out.append(f"delete element {TABLE} fip_snat4 {{ {', '.join(x for _, x in gone)} }}")
    if added:
        out.append(f"add element {TABLE} fip_dnat4 {{ "
                   + ", ".join(f"{f} : {x}" for f, x in added) + " }")
        out.append(f"add element {TABLE} fip_snat4 {{ "
                   + ", ".join(f"{x} : {f}" for f, x in added) + " }")
    return "".join(line + "\n" for line in out)
