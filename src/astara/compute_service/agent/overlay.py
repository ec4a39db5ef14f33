"""L2 between hosts, the I/O: VNIs and peers from the compute database, flood entries
on this host's vxlan devices.

The netns backend asks an ``Overlay`` for a network's VNI, peers and MTU when it
makes the network's bridge; ``sync`` (the agent's heartbeat and reconcile) reads this
host's vxlan devices and their flood entries and applies what ``vxlan.fdb_diff`` says,
so a host that joins or leaves a network (or stops beating) is added or dropped
everywhere. The VNI comes from ``compute_network_vnis`` (allocated here, unique), keyed
by the network id recorded on the instance's port by the compute API from the network
API's port: nothing a tenant writes. With ``holders`` (``management_address_host``) the
management network spans hosts too: every live holder (``holders.live``: listed, its
address claimed, beating) is a peer of the management network on every host,
``management_networks`` tells a holder which bridge to keep, and ``holder_view`` gives
the pins (the live holders' addresses, the other hosts' appliances' management ports).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import false, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from astara.compute_service import catalog, jobs
from astara.compute_service.agent import holders as holders_mod
from astara.compute_service.agent import vxlan
from astara.compute_service.agent.runner import CommandError, Runner
from astara.compute_service.models import Host, Instance, NetworkVni
from astara.db.engine import Database

LOG = logging.getLogger(__name__)
ALLOCATE_TRIES = 8  # another host took the VNI picked: pick again


class OverlayError(RuntimeError):
    """The records or the underlay cannot say how to tunnel (the plug fails with it)."""


@contextlib.contextmanager
def _records() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise OverlayError(f"compute database: {exc.__class__.__name__}") from None


@dataclass(frozen=True)
class HolderView:
    """What the holders' pins are made from, read at once."""

    live: dict[str, str]  # live holder -> its claimed address
    remote: frozenset[tuple[str, str]]  # (MAC, IP) of other live hosts' appliances
    networks: frozenset[str]  # the management network id(s)


class Overlay:
    def __init__(self, db: Database, runner: Runner, host: str, local: str,
                 agent_down_time: float, device_prefix: str,
                 holders: tuple[str, ...] = ()):
        self.db = db
        self.holders = holders  # (): the management network is not tunnelled
        self.runner = runner
        self.host = host
        self.local = local
        self.agent_down_time = agent_down_time
        self.device_prefix = device_prefix
        self._vnis: dict[str, int] = {}  # never changes once allocated
        self._mtu: int | None = None
        self._version = vxlan.family(local)
        self._warned: set[tuple[str, str]] = set()  # (host, address) of the other family
        self._lock = threading.Lock()

    # records -----------------------------------------------------------------------
    def vni(self, net_id: str) -> int:
        """``net_id``'s VNI, allocated on first use (the same on every host)."""
        if (known := self._vnis.get(net_id)) is not None:
            return known
        with _records():
            return self._allocate(net_id)

    def _allocate(self, net_id: str) -> int:
        for _ in range(ALLOCATE_TRIES):
            with self.db.read() as s:
                row = s.get(NetworkVni, net_id)
                if row is not None:
                    self._vnis[net_id] = row.vni
                    return row.vni
                taken = set(s.scalars(select(NetworkVni.vni)))
            try:
                with self.db.write() as s:
                    s.add(NetworkVni(network_id=net_id, vni=vxlan.pick_vni(net_id, taken),
                                     created_at=jobs.now()))
            except IntegrityError:  # raced: the network or the VNI was just taken
                continue
        with self.db.read() as s:
            row = s.get(NetworkVni, net_id)
        if row is None:
            raise OverlayError(f"no VNI could be allocated for network {net_id}")
        self._vnis[net_id] = row.vni
        return row.vni

    def networks(self) -> dict[int, str]:
        """VNI -> network id of every allocated VNI."""
        with self.db.read() as s:
            return {r.vni: r.network_id for r in s.scalars(select(NetworkVni))}

    def peer_map(self) -> dict[str, frozenset[str]]:
        """Network id -> tunnel addresses of the other live hosts with ports on it."""
        since = jobs.now() - timedelta(seconds=self.agent_down_time)
        with self.db.read() as s:
            found = list(s.scalars(select(Host).where(Host.tunnel_address.is_not(None))))
            hosts = [vxlan.HostRow(h.name, h.tunnel_address, h.updated_at >= since)
                     for h in found]
            names = [h.name for h in hosts if h.alive and h.name != self.host]
            rows = s.execute(select(Instance.host, Instance.ports).where(
                Instance.deleted == false(), Instance.host.in_(names))).all() if names else []
            live = self._live(found, since)
            always = {net: sorted(set(live) - {self.host}) for net in self._management(s)} \
                if live else {}
        ports = [(host, str(p["net_id"])) for host, plist in rows for p in plist or ()
                 if isinstance(p, dict) and p.get("net_id")]
        if self._version is not None:
            for name, address in vxlan.other_family(self.host, hosts, self._version).items():
                if (name, address) not in self._warned:
                    self._warned.add((name, address))
                    LOG.warning("vxlan: host %s's tunnel address %s is not IPv%d like "
                                "ours (%s): it is no peer of this host", name, address,
                                self._version, self.local)
        return vxlan.peers_by_network(self.host, hosts, ports, self._version, always)

    def _live(self, found: list[Host], since) -> dict[str, str]:
        return holders_mod.live(self.holders, [
            (h.name, h.management_address, h.updated_at >= since) for h in found])

    def holder_view(self) -> HolderView:
        """The live holders, the other live hosts' appliances' management ports and the
        management networks, from one read (OverlayError: the records cannot be read)."""
        since = jobs.now() - timedelta(seconds=self.agent_down_time)
        with _records(), self.db.read() as s:
            found = list(s.scalars(select(Host)))
            alive = [h.name for h in found if h.updated_at >= since]
            live = self._live(found, since)
            rows = s.execute(select(Instance.host, Instance.image_id, Instance.ports).where(
                Instance.deleted == false(),
                Instance.image_id == catalog.APPLIANCE_IMAGE)).all()
        return HolderView(
            live,
            holders_mod.remote_pairs(self.host, [(h, p) for h, _, p in rows], alive),
            vxlan.management_networks([(i, p) for _, i, p in rows], catalog.APPLIANCE_IMAGE))

    def management_networks(self) -> frozenset[str]:
        """The management network's id(s), from the live appliances of every host."""
        with _records(), self.db.read() as s:
            return self._management(s)

    def _management(self, s) -> frozenset[str]:
        rows = s.execute(select(Instance.image_id, Instance.ports).where(
            Instance.deleted == false(), Instance.image_id == catalog.APPLIANCE_IMAGE)).all()
        return vxlan.management_networks(rows, catalog.APPLIANCE_IMAGE)

    def peers(self, net_id: str) -> frozenset[str]:
        with _records():
            return self.peer_map().get(net_id, frozenset())

    # the host ----------------------------------------------------------------------
    def mtu(self) -> int:
        """The tunnelled networks' MTU, from the MTU of the interface holding
        ``local`` (read once)."""
        if self._mtu is None:
            try:
                links = json.loads(self.runner.run(["ip", "-j", "addr", "show"]) or "[]")
            except (CommandError, ValueError) as exc:
                raise OverlayError(f"this host's addresses cannot be read: {exc}") from None
            found = [link.get("mtu") for link in links
                     for a in link.get("addr_info", ()) if a.get("local") == self.local]
            if not found or not isinstance(found[0], int):
                raise OverlayError(f"tunnel_address {self.local} is on no interface of "
                                   f"this host")
            self._mtu = vxlan.tunnel_mtu(found[0], self.local)
        return self._mtu

    def devices(self) -> dict[str, int]:
        """Our vxlan devices on this host and their VNIs."""
        out = self.runner.run(["ip", "-d", "-j", "link", "show", "type", "vxlan"],
                              check=False)
        try:
            links = json.loads(out) if out.strip() else []
        except ValueError:
            return {}
        return {link["ifname"]: int(link["linkinfo"]["info_data"]["id"]) for link in links
                if str(link.get("ifname", "")).startswith(self.device_prefix)
                and "id" in link.get("linkinfo", {}).get("info_data", {})}

    def sync(self) -> list[str]:
        """Make every vxlan device's flood entries the peers our records give its
        network; return the ``bridge`` lines applied (OverlayError: the records
        cannot be read)."""
        with self._lock:  # the heartbeat and a reconcile pass may both call it
            devices = self.devices()
            if not devices:
                return []
            with _records():
                by_vni, peer_map = self.networks(), self.peer_map()
            desired = {dev: peer_map.get(by_vni[vni], frozenset())
                       for dev, vni in devices.items() if vni in by_vni}
            out = self.runner.run(["bridge", "-j", "fdb", "show"], check=False)
            try:
                fdb = json.loads(out) if out.strip() else []
            except ValueError:
                return []
            lines = vxlan.fdb_diff(desired, vxlan.flood_entries(fdb, desired))
            return self._apply(lines) if lines else []

    def _apply(self, lines: list[str]) -> list[str]:
        """Run the ``bridge`` lines; the applied ones (on a failure, each is tried
        alone and the failed ones are logged as failures, never as applied)."""
        try:  # -force: a device deleted meanwhile does not stop the others
            self.runner.run(["bridge", "-force", "-batch", "-"], stdin="\n".join(lines) + "\n")
            return lines
        except CommandError:
            pass
        applied = []
        for line in lines:
            try:
                self.runner.run(["bridge", *line.split()])
                applied.append(line)
            except CommandError as exc:
                LOG.warning("vxlan: %s failed: %s", line, exc)
        return applied
