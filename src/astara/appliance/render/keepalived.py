"""Render keepalived's configuration and notify script for an HA router. Pure.

Called by `converge` with the document (its `ha` section enabled) and the resolved
interface names; `apply.ha` writes the text, checks it with `keepalived -t` and
starts or reloads keepalived. One VRRPv3 instance per appliance: adverts unicast
from this member's management address to the peer's (`check_unicast_src`: adverts
from anyone else are ignored; nftables drops them before that, `render.nft`). Both
members start as BACKUP; the higher priority becomes master after the master-down
timer, and with `nopreempt` a member that joins later stays backup. The virtual
addresses (every address of the external and internal interfaces, and the floating
IPs) and the routes
through them (default gateways, extra routes) are keepalived's: added on master,
removed otherwise. They all go in the `_excluded` list: the adverts carry none
(VRRPv3 adverts carry one family, and a router has both), which VRRP over unicast
does not need. keepalived wants one address in the adverts all the same: a
link-local marker of the adverts' family on `lo` (`marker`), which nothing else
sees or uses. Each data interface is tracked: one going down puts the member in
FAULT, so the peer takes over. The notify script records the role for the status
document and moves conntrackd's caches (commit on master, resync on backup).
"""

from __future__ import annotations

import ipaddress
import shlex
from pathlib import Path

from astara.wire.appliance_config import ApplianceConfig, IPInterface

INSTANCE = "router"
ROUTE_PROTOCOL = "keepalived"  # not "static": the netlink plan leaves these routes alone
ROLES = ("master", "backup", "fault")


def paths(state_dir: Path) -> dict[str, Path]:
    base = state_dir / "keepalived"
    return {"conf": Path(f"{base}.conf"), "pid": Path(f"{base}.pid"),
            "vrrp_pid": Path(f"{base}-vrrp.pid"), "notify": Path(f"{base}-notify.sh"),
            "state": state_dir / "ha.state"}


def virtual_addresses(config: ApplianceConfig) -> list[tuple[str, IPInterface]]:
    """(network_id, address) of every address keepalived holds: all addresses of the
    external and internal interfaces, in document order, then the floating IPs (/32s
    on the external interface: the master's kernel answers ARP for them)."""
    held = [(net.network_id, addr) for net in config.networks
            if net.network_type != "management" for addr in net.interface.addresses]
    ext = config.network("external")
    if ext:
        held += [(ext[0].network_id, ipaddress.IPv4Interface(f.floating_ip))
                 for f in config.floating_ips]
    return held


def marker(config: ApplianceConfig) -> str:
    """The one address the adverts carry (the peers' family), per router."""
    vrid = config.ha.virtual_router_id
    if config.ha.peers[0].version == 4:
        return f"169.254.192.{vrid}/32"
    return f"fe80::a57a:{vrid:x}/128"


def _source(config: ApplianceConfig) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    family = config.ha.peers[0].version
    return next(a.ip for n in config.network("management") for a in n.interface.addresses
                if a.version == family)


def _routes(config: ApplianceConfig, names: dict[str, str]) -> list[str]:
    """The document's routes, each on the interface whose virtual address reaches its
    next hop (keepalived adds a route only with its interface up and addressed)."""
    nets = [(names[net.network_id], addr.network) for net in config.networks
            if net.network_type != "management" for addr in net.interface.addresses]

    def dev(nexthop: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        found = next((name for name, net in nets if nexthop in net), None)
        return f" dev {found}" if found else ""

    wanted = [(str(r.destination), r.nexthop) for r in config.routes]
    if config.default_v4_gateway:
        wanted.append(("0.0.0.0/0", config.default_v4_gateway))
    if config.default_v6_gateway:
        wanted.append(("::/0", config.default_v6_gateway))
    return [f"{dest} via {hop}{dev(hop)} protocol {ROUTE_PROTOCOL}" for dest, hop in wanted]


def render(config: ApplianceConfig, names: dict[str, str], state_dir: Path) -> str:
    ha = config.ha
    p = paths(state_dir)
    mgmt = names[config.network("management")[0].network_id]
    data = sorted(names[n.network_id] for n in config.networks
                  if n.network_type != "management")
    notify = shlex.quote(str(p["notify"]))
    lines = [
        "global_defs {",
        "  enable_script_security",  # the notify script runs as root: root's path only
        "  script_user root",
        "  vrrp_version 3",
        "  vrrp_garp_master_delay 1",
        "  vrrp_garp_master_repeat 3",
        "  vrrp_garp_interval 0.001",
        "  vrrp_gna_interval 0.001",
        "}",
        f"vrrp_instance {INSTANCE} {{",
        "  state BACKUP",
        f"  interface {mgmt}",
        f"  virtual_router_id {ha.virtual_router_id}",
        f"  priority {ha.priority}",
        f"  advert_int {ha.advert_interval_cs / 100:.2f}",
    ]
    if ha.nopreempt:
        lines.append("  nopreempt")
    lines += [
        f"  unicast_src_ip {_source(config)}",
        "  check_unicast_src",
        "  unicast_peer {",
        *(f"    {peer}" for peer in ha.peers),
        "  }",
    ]
    if data:
        lines += ["  track_interface {", *(f"    {name}" for name in data), "  }"]
    lines += ["  virtual_ipaddress {", f"    {marker(config)} dev lo", "  }"]
    vips = [f"    {addr} dev {names[nid]}" for nid, addr in virtual_addresses(config)]
    if vips:
        lines += ["  virtual_ipaddress_excluded {", *vips, "  }"]
    routes = _routes(config, names)
    if routes:
        lines += ["  virtual_routes {", *(f"    {r}" for r in routes), "  }"]
    lines += [f'  notify "{notify}"', "}", ""]
    return "\n".join(lines)


def notify_script(state_dir: Path, conntrackd_conf: Path | None) -> str:
    """keepalived runs it as `<script> INSTANCE <name> <STATE> <priority>` on every
    transition: it records the role (atomically) and, with conntrack sync, hands the
    connection table over: the new master commits what the old one sent (-c), then
    resyncs its caches with the kernel (-f, -R) and sends them to the peer (-B); a
    new backup asks the master for its table (-n) and shortens the timers of the
    entries it forwarded (-t)."""
    state = shlex.quote(str(paths(state_dir)["state"]))
    lines = [
        "#!/bin/sh",
        "# Written by the astara appliance agent; keepalived runs it on each transition.",
        'role=$(echo "$3" | tr "A-Z" "a-z")',
        f'echo "$role" > {state}.tmp && mv -f {state}.tmp {state}',
    ]
    if conntrackd_conf is not None:
        c = f"conntrackd -C {shlex.quote(str(conntrackd_conf))}"
        lines += [
            'case "$role" in',
            f"  master) {c} -c; {c} -f; {c} -R; {c} -B ;;",
            f"  backup) {c} -t; {c} -n ;;",
            "esac",
        ]
    lines += ["exit 0", ""]
    return "\n".join(lines)
