"""At the compute agent's start: is this host's management address already held elsewhere?

The agent puts ``management_host_address`` on the management network's bridge
(``netns.py``). If another interface already holds it -- typically the bridge an
earlier run left behind, from a database since replaced -- the host has two
routes to the management prefix and its packets to the appliances leave by the
stale one: every router then waits for its boot timeout with no hint why. This
finds every holder other than the bridge this agent's own instances use, and says
what to do, one line each. It changes nothing: the holder may be another stack's
on this host, and only its operator knows.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from astara.compute_service import catalog
from astara.compute_service.agent import neighbours
from astara.compute_service.agent.netns import bridge_name
from astara.compute_service.agent.runner import Runner
from astara.compute_service.models import Host, Instance
from astara.compute_service.settings import ComputeSettings
from astara.db.engine import Database


@dataclass(frozen=True)
class Holder:
    ifname: str
    kind: str | None  # "bridge", "dummy", ...; None for a plain device
    ports: int  # links enslaved to it (bridges)


def holders(links: list[dict], address: str) -> list[Holder]:
    """The interfaces of ``ip -d -j addr show`` holding ``address`` (prefix length ignored)."""
    wanted = ipaddress.ip_interface(address).ip
    ports: dict[str, int] = {}
    for link in links:
        if link.get("master"):
            ports[link["master"]] = ports.get(link["master"], 0) + 1
    found = []
    for link in links:
        for info in link.get("addr_info") or []:
            try:
                held = ipaddress.ip_address(info.get("local", ""))
            except ValueError:
                continue
            if held == wanted:
                kind = (link.get("linkinfo") or {}).get("info_kind")
                found.append(Holder(link["ifname"], kind, ports.get(link["ifname"], 0)))
                break
    return found


def expected_bridge(instance_ports: Iterable[list[dict]],
                    bridge_prefix: str) -> str | None:
    """The management bridge of this agent's instances (None: none of them has one yet):
    a port's the compute API marked as a management port, never one found by name."""
    for ports in instance_ports:
        for port in ports or []:
            if neighbours.is_management(port):
                return bridge_name(bridge_prefix, port["net_id"])
    return None


def conflicts(found: list[Holder], expected: str | None, address: str,
              bridge_prefix: str) -> list[str]:
    """One line for each holder of the management address that is not ``expected``."""
    lines = []
    for h in found:
        if h.ifname == expected:
            continue
        ours = h.kind == "bridge" and h.ifname.startswith(bridge_prefix)
        what = (f"bridge {h.ifname} (with {h.ports} port{'s' * (h.ports != 1)}: left by an "
                f"earlier run?)" if ours else f"interface {h.ifname} (not Astara's)")
        fix = ("stop Astara and run astara-netns-cleanup --force, or " if ours else "")
        lines.append(f"management address {address} is already on {what}, not on this "
                     f"agent's management bridge: appliances will not answer (routers wait "
                     f"for their boot timeout) until it is removed: {fix}ip addr del "
                     f"{address} dev {h.ifname}")
    return lines


def check(db: Database, runner: Runner, compute: ComputeSettings) -> list[str]:
    """The conflicts on this host now (reads the host's addresses and our instances)."""
    if not compute.management_host_address:
        return []
    links = json.loads(runner.run(["ip", "-d", "-j", "addr", "show"], check=False) or "[]")
    names = compute.management_address_host  # (): every host holds it
    # A holder's bridge serves every host's appliances; another host's holds nothing.
    holder = compute.host in names
    mine = Instance.image_id == catalog.APPLIANCE_IMAGE if holder \
        else Instance.host == compute.host
    with db.read() as s:
        ports = s.scalars(select(Instance.ports).where(
            mine, Instance.deleted.is_(False))).all() if holder or not names else []
    expected = expected_bridge(ports, compute.bridge_prefix)
    return conflicts(holders(links, compute.management_host_address), expected,
                     compute.management_host_address, compute.bridge_prefix)


def unknown_holder(holder: str, host: str, hosts: Iterable[str]) -> str | None:
    """The line when ``management_address_host`` names no compute host: a typo (``A``
    for ``a``) leaves every host with no peer holding the management address, so no
    appliance is reached. None when it names one, names this host (registered by its
    own agent) or is empty."""
    names = sorted(set(hosts))
    if not holder or holder == host or holder in names:
        return None
    near = [n for n in names if n.lower() == holder.strip().lower()]
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return (f"management_address_host = {holder!r} names no compute host{hint}: no "
            f"appliance of this host reaches the management address until it names the "
            f"holder's [compute_service] host exactly (known: "
            f"{', '.join(names[:10]) or 'none yet'})")


def check_holder(db: Database, holders: tuple[str, ...], host: str) -> list[str]:
    """``unknown_holder`` of each holder against the hosts table now (one read; nothing
    without a holder other than this host)."""
    others = [h for h in holders if h != host]
    if not others:
        return []
    with db.read() as s:
        names = s.scalars(select(Host.name)).all()
    return [line for h in others if (line := unknown_holder(h, host, names))]
