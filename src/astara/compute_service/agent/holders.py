"""Several holders of the management network (``management_address_host`` lists them):
who holds what, who pins what; the decisions pure, the claim at the edge.

Each holder puts its own ``management_host_address`` on its management bridge, with a
MAC derived from it (``neighbours.holder_mac``), and claims it in
``compute_hosts.management_address`` (unique) when its agent starts, and again at
each heartbeat if our records lost it: a second host configured with the same address
is refused and holds nothing, and a holder whose claim another host took stops holding.
The live holders (listed, claimed, beating within ``agent_down_time``) are what every
host works from: each appliance namespace pins every live holder's address to its MAC,
and the shared metadata address (``management_metadata_address``, on every holder's bridge) to ONE
holder's (``metadata_holder``); each holder pins the other hosts' appliances'
management addresses to their MACs on its bridge, from the compute API's port records.
No neighbour discovery crosses the underlay, and the metadata address, held by every
holder, is never resolved by it. ``overlay`` reads the records, ``netns`` applies the
lines.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from astara.compute_service import jobs
from astara.compute_service.agent import neighbours
from astara.compute_service.models import Host
from astara.compute_service.settings import MANAGEMENT_POOL_START as POOL_START
from astara.db.engine import Database


def live(configured: Iterable[str],
         rows: Iterable[tuple[str, str | None, bool]]) -> dict[str, str]:
    """Holder name -> its claimed address, of the ``configured`` holders whose record
    (name, claimed address, beating) has an address and beats: the rest hold nothing
    anyone may count on."""
    names = set(configured)
    return {name: address for name, address, alive in rows
            if name in names and address and alive}


def metadata_holder(host: str, holders: Mapping[str, str]) -> str | None:
    """The holder the appliances of ``host`` reach the metadata address through:
    ``host`` itself if it is a live holder (no tunnel on the way), else the first live
    holder by name; None with none live."""
    if host in holders:
        return host
    return min(holders) if holders else None


def inside_pairs(host: str, holders: Mapping[str, str],
                 metadata_address: str) -> frozenset[tuple[str, str]]:
    """(MAC, IP) pairs every appliance namespace of ``host`` pins on its management
    interface: each live holder's address to its MAC, and the metadata address (if
    any) to ``metadata_holder``'s MAC."""
    out = {(neighbours.holder_mac(address), neighbours.host_ip(address))
           for address in holders.values()}
    chosen = metadata_holder(host, holders)
    # a metadata address equal to a holder's (refused at claim; a stale record) is
    # pinned once, to that holder: two pins for one IP would race on line order
    if metadata_address and chosen is not None \
            and metadata_address not in {ip for _, ip in out}:
        out.add((neighbours.holder_mac(holders[chosen]), metadata_address))
    return frozenset(out)


def inside_lines(present: Iterable[Mapping], wanted: frozenset[tuple[str, str]],
                 ifname: str, metadata_address: str) -> list[str]:
    """``ip`` lines (inside one appliance namespace) turning its PERMANENT entries on
    ``ifname`` into ``wanted``: missing or wrong pairs replaced; a holder pin no longer
    wanted (its MAC is the one derived from its address: ours, whoever set it), a
    metadata pin with none wanted, and a pin of a former metadata address (an IP not
    wanted naming a wanted holder's MAC) deleted. Other entries are not ours: left
    alone."""
    have = {(str(e.get("lladdr", "")).lower(), str(e.get("dst", "")))
            for e in neighbours.permanent(list(present)) if e.get("dev", ifname) == ifname}
    lines = neighbours.pin_lines(wanted - have, ifname)
    wanted_ips = {ip for _, ip in wanted}
    holder_macs = {mac for mac, ip in wanted if _holder_pin(mac, ip)}
    for mac, ip in sorted(have - wanted):
        ours = ip == metadata_address or _holder_pin(mac, ip) or mac in holder_macs
        if ours and ip not in wanted_ips:
            lines.append(f"neigh del {ip} dev {ifname}")
    return lines


def _holder_pin(mac: str, ip: str) -> bool:
    try:
        return neighbours.holder_mac(ip) == mac
    except ValueError:
        return False


def remote_pairs(host: str, appliances: Iterable[tuple[str, list]],
                 live_hosts: Iterable[str]) -> frozenset[tuple[str, str]]:
    """(MAC, IP) of the management ports of the appliances (host, ports) on the other
    live hosts: what a holder pins on its management bridge. From the ports the compute
    API stored (``neighbours.wanted``: marked management ports only), never from what a
    tenant writes; this host's own appliances are pinned when plugged."""
    alive = set(live_hosts) - {host}
    return frozenset(pair for where, ports in appliances if where in alive
                     for port in ports or () if isinstance(port, dict)
                     for pair in neighbours.wanted(port, "appliance"))


def bridge_lines(present: Iterable[Mapping], wanted: frozenset[tuple[str, str]],
                 before: frozenset[tuple[str, str]], dev: str) -> list[str]:
    """``ip`` lines making the remote appliances' pins on bridge ``dev`` ``wanted``:
    missing ones added, those of the last sync (``before``) no longer wanted deleted
    where the entry still names that MAC (an address since given to a port of this
    host keeps that port's pin)."""
    have = {(str(e.get("lladdr", "")).lower(), str(e.get("dst", "")))
            for e in neighbours.permanent(list(present)) if e.get("dev", dev) == dev}
    lines = neighbours.pin_lines(wanted - have, dev)
    gone = (before - wanted) & have
    wanted_ips = {ip for _, ip in wanted}
    lines += [f"neigh del {ip} dev {dev}" for _, ip in sorted(gone) if ip not in wanted_ips]
    return lines


def in_pool(address: str) -> bool:
    """Whether ``address`` (with its prefix length) lies in the range the orchestrator's
    management subnet hands appliances (``POOL_START`` on): an appliance could get it."""
    iface = ipaddress.ip_interface(address)
    return int(iface.ip) - int(iface.network.network_address) >= POOL_START


def refusal(address: str, host: str, owner: str | None, pooled: bool) -> str | None:
    """The one line refusing ``host`` the management address (None: granted):
    ``owner``, another host that claimed it; ``pooled``, inside the appliances' pool."""
    if owner is not None and owner != host:
        return (f"management_host_address {address} is claimed by host {owner!r} "
                f"(compute_hosts.management_address): this host holds no management "
                f"address; give each holder in management_address_host its own address, "
                f"or clear {owner!r}'s claim if that host is gone for good")
    if pooled:
        return (f"management_host_address {address} lies in the management subnet's "
                f"allocation pool (from ::{POOL_START:x} of its prefix): an appliance "
                f"could be given it; this host holds no management address until it "
                f"is one below that")
    return None


def claim(db: Database, host: str, address: str, holder: bool,
          capacity: int = 0, availability_zone: str = "nova",
          metadata_address: str = "") -> str | None:
    """Record ``host``'s claim of ``address`` (a holder) or drop any claim (not one);
    the refusal line if another host holds it, it is in the pool or it is the metadata
    address every holder holds (None: granted)."""
    ip = neighbours.host_ip(address) if holder and address else None
    _record(db, host, capacity, availability_zone)  # the row first: its own race
    if ip is not None and (line := refusal(address, host, None, in_pool(address))
                           or metadata_refusal(db, address, host, metadata_address)):
        _set_address(db, host, None)  # no claim, and any older one dropped
        return line
    try:
        _set_address(db, host, ip)
    except IntegrityError as exc:
        if not _unique_violation(exc):
            raise
        with db.read() as s:
            owner = s.scalar(select(Host.name).where(Host.management_address == ip))
        _set_address(db, host, None)
        return refusal(address, host, owner or "another host", False)
    return None


def claim_at_start(db: Database, compute) -> str | None:
    """The claim an agent (``compute``, its ComputeSettings) makes when it starts: a
    holder (listed, with a tunnel address) claims its address, anything else drops any
    claim; the refusal line (None: granted or no holder)."""
    return claim(db, compute.host, compute.management_host_address,
                 bool(compute.tunnel_address)
                 and compute.host in compute.management_address_host,
                 compute.host_capacity, compute.availability_zone,
                 compute.management_metadata_address)


def keep_claim(db: Database, host: str, address: str) -> str | None:
    """Claim ``address`` again if our records no longer give it to ``host`` (its row
    deleted and made again, or its column cleared by an operator); the refusal line
    if another host has claimed it meanwhile (None: still ours)."""
    if claimed(db, host, address):
        return None
    try:
        _set_address(db, host, neighbours.host_ip(address))
    except IntegrityError as exc:
        if not _unique_violation(exc):
            raise
        with db.read() as s:
            owner = s.scalar(select(Host.name).where(
                Host.management_address == neighbours.host_ip(address)))
        return refusal(address, host, owner or "another host", False)
    return None


def metadata_refusal(db: Database, address: str, host: str, metadata: str) -> str | None:
    """The one line refusing ``host`` the management ``address`` because the metadata
    address (on every holder's bridge) is that address, or another host's claimed one:
    two bridges would hold one address with two MACs."""
    if not metadata:
        return None
    if metadata == neighbours.host_ip(address):
        return (f"management_host_address {address} is the management_metadata_address "
                f"(every holder holds that one): this host holds no management address "
                f"until they differ")
    with db.read() as s:
        owner = s.scalar(select(Host.name).where(Host.management_address == metadata,
                                                 Host.name != host))
    if owner is not None:
        return (f"management_metadata_address {metadata} is claimed by host {owner!r} as "
                f"its management address: this host holds no management address until "
                f"they differ")
    return None


def _unique_violation(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the unique management address (not a row's primary key)."""
    text = str(exc.orig).lower()
    return "management_address" in text


def claimed(db: Database, host: str, address: str) -> bool:
    """Whether our records give ``host`` the claim of ``address`` (what a backend built
    outside the agent, e.g. by astara-compute-manage, goes by: it never claims)."""
    with db.read() as s:
        row = s.get(Host, host)
        return row is not None and bool(address) \
            and row.management_address == neighbours.host_ip(address)


def _record(db: Database, host: str, capacity: int, availability_zone: str) -> None:
    try:
        with db.write() as s:
            if s.get(Host, host) is None:  # the agent's register fills in the rest
                s.add(Host(name=host, capacity=capacity, drained=False,
                           availability_zone=availability_zone, updated_at=jobs.now()))
    except IntegrityError:
        pass  # another process of this host made the row meanwhile: it is there


def _set_address(db: Database, host: str, ip: str | None) -> None:
    with db.write() as s:
        s.execute(update(Host).where(Host.name == host).values(management_address=ip))
