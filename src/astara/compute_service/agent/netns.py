"""The default backend: each instance is a network namespace plugged into bridges.

For every port a veth pair joins the namespace (port MAC, ``ethN`` inside, in port
order) to the Linux bridge of the port's network, which is created on first use and
removed when its last member leaves. The namespace is named by the instance's
profile: ``netns_prefix`` (tenant) or ``appliance_prefix`` (appliance, the prefix
``astara-appliance-agent --mode host`` watches); ``profiles`` says what runs inside.
The management network's bridge carries this host's management address (the only
address the project sets on the host), added when the bridge is plugged and removed
with it; the management network is the one of a port the compute API marked as the
management port (``neighbours.is_management``), never one found by its name. Only
names carrying our prefixes are ever created, observed or removed.
A port with port security gets an anti-spoofing chain (``antispoof``) on its tap,
loaded before the instance's side of the veth goes up and deleted with the tap.
An appliance's management port gets PERMANENT neighbour entries on both sides
(``neighbours``: the host's neighbour table must not hold one dynamic entry per
appliance), in the same ``ip -batch`` runs as its plug, removed with it.
With an ``overlay`` (a tunnel address), each bridge but the management network's also
gets a ``vxlan`` device (``vxlan``: the network's VNI, flooding to its peers), made
with the bridge and removed with it, and the network's veths get the tunnel's MTU.
With ``mgmt_address_host`` too (the holders' names), the management network's bridge
is tunnelled like the others, and only the holders' bridges hold a management address,
each its own, with a MAC derived from it (``neighbours.holder_mac``), plus the shared
metadata address if set; a holder keeps its management bridge while any live
appliance of any host has a management port on that network (an emptied one of a
network no longer in use is swept), and the other hosts remove their address from
their management bridges. The pins follow the live holders (``holders``): at each
sync an appliance namespace whose pins were made from another view is pinned again,
and a holder pins the other hosts' appliances on its bridge.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from astara.compute_service.agent import (
    antispoof,
    bridge_ports,
    holders,
    neighbours,
    netlink,
    profiles,
    vif_plugged,
    vxlan,
)
from astara.compute_service.agent.backend import BackendError, InstanceSpec, Observed
from astara.compute_service.agent.overlay import HolderView, Overlay, OverlayError
from astara.compute_service.agent.responders import Responders, ZygoteResponders
from astara.compute_service.agent.runner import CommandError, Runner, SubprocessRunner
from astara.compute_service.settings import ComputeSettings
from astara.db.engine import Database

NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")
IF_INET6 = Path("/proc/net/if_inet6")
_NOT_YET = 0x40 | 0x08  # IFA_F_TENTATIVE, IFA_F_DADFAILED: not an address held
_ETH = re.compile(r"eth(\d+)$")
LOG = logging.getLogger(__name__)


def bridge_name(bridge_prefix: str, net_id: str) -> str:
    """The Linux bridge of network ``net_id`` (the burn-in finds bridges by it too)."""
    return (bridge_prefix + net_id.replace("-", ""))[:15]


def holds_address(addr_json: str, address: str) -> bool:
    """Whether ``ip -j addr show dev X``'s output holds ``address`` (any prefix length)."""
    try:
        links = json.loads(addr_json) if addr_json.strip() else []
        wanted = ipaddress.ip_interface(address).ip
    except ValueError:
        return False
    for link in links if isinstance(links, list) else []:
        for info in (link.get("addr_info") or []) if isinstance(link, dict) else []:
            with contextlib.suppress(ValueError, TypeError):
                if ipaddress.ip_address(info.get("local", "")) == wanted:
                    return True
    return False


def ipv6_held(text: str) -> set[tuple[str, str]]:
    """(device, address/prefixlen) of each usable address in /proc/net/if_inet6's
    ``text`` (neither tentative nor failed); odd lines are skipped."""
    out = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or len(fields[0]) != 32:
            continue
        with contextlib.suppress(ValueError):
            if not int(fields[4], 16) & _NOT_YET:
                address = ipaddress.IPv6Address(int(fields[0], 16))
                out.add((fields[5], f"{address}/{int(fields[2], 16)}"))
    return out


class NetnsBackend:
    def __init__(self, runner: Runner, state_dir: Path, netns_prefix: str = "astara-vm-",
                 bridge_prefix: str = "brq", python: str = sys.executable,
                 appliance_prefix: str = "astara-appliance-",
                 mgmt_host_address: str = "fdca:3ba5:a17a:acda::1/64",
                 responders: Responders | None = None, overlay: Overlay | None = None,
                 mgmt_address_host: str | tuple[str, ...] = (), host: str = "",
                 mgmt_metadata_address: str = "", holding: bool = True):
        if netns_prefix.startswith(appliance_prefix) or \
                appliance_prefix.startswith(netns_prefix):
            raise ValueError("the tenant and appliance namespace prefixes must not overlap")
        self.runner = runner
        self.state_dir = Path(state_dir)
        self.netns_prefix = netns_prefix
        self.appliance_prefix = appliance_prefix
        self.bridge_prefix = bridge_prefix
        self.python = python
        self.mgmt_host_address = mgmt_host_address
        self.overlay = overlay  # None: every network stays on this host
        names = tuple(n for n in mgmt_address_host.split(",") if n) \
            if isinstance(mgmt_address_host, str) else tuple(mgmt_address_host)
        # The management network spans hosts (with an overlay and holders named): only
        # a holder's bridge has its address, with a MAC every host can derive.
        # ``holding``: False when this host's claim of its address was refused.
        self.mgmt_tunnelled = overlay is not None and bool(names) and bool(mgmt_host_address)
        self.holds_mgmt_address = not self.mgmt_tunnelled or (host in names and holding)
        self.mgmt_address_host = names
        self.host = host
        self.metadata_address = mgmt_metadata_address if self.mgmt_tunnelled else ""
        self.holder_mac = neighbours.holder_mac(mgmt_host_address) \
            if self.mgmt_tunnelled else None
        # The holders' view of the last sync (None: not read yet); the pairs each
        # appliance namespace was pinned from; the remote appliances pinned on our
        # bridge at the last sync (a holder).
        self._view: HolderView | None = None
        self._inside_pinned: dict[str, frozenset[tuple[str, str]]] = {}
        self._remote: frozenset[tuple[str, str]] = frozenset()
        self._addressed: set[str] = set()  # bridges given their addresses this run
        self._bridge_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        # Bumped, holding the bridge's lock, by every plug or pin on it: a sweep that
        # read the namespaces without the lock knows whether a pin came meanwhile.
        self._pin_generation: dict[str, int] = defaultdict(int)
        # The holder's current management bridges (``ensure_management``'s last read;
        # None or empty: not read, or nothing flagged, every holder-MAC bridge kept): a
        # stale one is swept.
        self._mgmt_bridges: frozenset[str] | None = None
        # Management bridges whose address a non-holder has removed (once per bridge).
        self._mgmt_address_dropped: set[str] = set()
        self.responders = responders or ZygoteResponders(
            runner, self.state_dir / "responder-zygote", python)

    @classmethod
    def from_settings(cls, compute: ComputeSettings, runner: Runner | None = None,
                      db: Database | None = None, holding: bool = True) -> NetnsBackend:
        """The backend ``[compute_service]`` describes (agent, manage, tests); with a
        ``tunnel_address`` and the compute database, its networks span hosts.
        ``holding``: False if this holder's claim of its address was refused; with the
        database, a listed holder holds its address only if our records say it claimed
        it (a backend built by another command never claims)."""
        runner = runner or SubprocessRunner()
        if holding and db is not None and compute.tunnel_address \
                and compute.host in compute.management_address_host:
            holding = holders.claimed(db, compute.host, compute.management_host_address)
        overlay = Overlay(db, runner, compute.host, compute.tunnel_address,
                          compute.agent_down_time, vxlan.device_prefix(compute.bridge_prefix),
                          compute.management_address_host) \
            if compute.tunnel_address and db is not None else None
        return cls(runner, compute.state_dir, compute.netns_prefix,
                   compute.bridge_prefix, appliance_prefix=compute.appliance_netns_prefix,
                   mgmt_host_address=compute.management_host_address, overlay=overlay,
                   mgmt_address_host=compute.management_address_host, host=compute.host,
                   mgmt_metadata_address=compute.management_metadata_address,
                   holding=holding)

    # names -------------------------------------------------------------------------
    @property
    def prefixes(self) -> dict[str, str]:
        return {"tenant": self.netns_prefix, "appliance": self.appliance_prefix}

    def netns(self, instance_id: str, profile: str = "tenant") -> str:
        return self.prefixes.get(profile, self.netns_prefix) + instance_id

    def bridge(self, net_id: str) -> str:
        return bridge_name(self.bridge_prefix, net_id)

    def vxlan_device(self, vni: int) -> str:
        return vxlan.device_name(self.bridge_prefix, vni)

    def tunnelled(self, port: dict) -> bool:
        """Whether ``port``'s network spans hosts (the management network only with a
        holder of its address named)."""
        return self.overlay is not None and (self.mgmt_tunnelled or not self.is_mgmt(port))

    @staticmethod
    def tap(port_id: str) -> str:
        return ("tap" + port_id)[:14]

    @staticmethod
    def is_mgmt(port: dict) -> bool:
        return neighbours.is_management(port)

    def pins(self, port: dict, profile: str) -> frozenset[tuple[str, str]]:
        """(MAC, IP) pairs pinned for ``port`` (none without a host management address)."""
        if not self.mgmt_host_address:
            return frozenset()
        return neighbours.wanted(port, profile)

    def _dir(self, instance_id: str) -> Path:
        return self.state_dir / "instances" / instance_id

    # the Backend protocol ----------------------------------------------------------
    def create(self, spec: InstanceSpec) -> str:
        ns = self.netns(spec.id, spec.profile)
        try:
            fresh = not (NETNS_DIR / ns).exists()
            ifnames = [f"eth{i}" for i in range(len(spec.ports))]
            self._plug_all(ns, list(zip(spec.ports, ifnames, strict=True)), fresh,
                           spec.profile)
            return self._start_processes(spec, ns, ifnames)
        except CommandError as exc:
            raise BackendError(str(exc)) from None

    def delete(self, spec: InstanceSpec) -> None:
        ns = self.netns(spec.id, spec.profile)
        profiles.stop_all(self.runner, self._dir(spec.id))
        taps = {self.tap(p["port_id"]) for p in spec.ports}
        if (NETNS_DIR / ns).exists():
            self._kill_inside(ns)  # anything started that no pid file names
            taps |= self._host_peers(ns)  # an orphan's ports are not known
        self._unfilter(sorted(taps))
        self._unpin(spec.ports, spec.profile)
        lines = [f"link del {tap}" for p in spec.ports
                 if (SYS_NET / (tap := self.tap(p["port_id"]))).exists()]
        if (NETNS_DIR / ns).exists():
            lines.append(f"netns del {ns}")
        self._batch_ignoring(lines)
        shutil.rmtree(self._dir(spec.id), ignore_errors=True)
        for port in {p["net_id"]: p for p in spec.ports}.values():
            self._drop_bridge_if_empty(port)

    def stop(self, spec: InstanceSpec) -> None:
        ns = self._require(spec)
        profiles.stop_all(self.runner, self._dir(spec.id))
        for ifname in self._interfaces(ns):
            self.runner.run(["ip", "-n", ns, "link", "set", ifname, "down"])

    def start(self, spec: InstanceSpec) -> None:
        ns = self._require(spec)
        for ifname in self._interfaces(ns):
            self.runner.run(["ip", "-n", ns, "link", "set", ifname, "up"])
        try:  # setting a link down dropped its pins
            self._pin(ns, spec.profile, [p for p in spec.ports if self.pins(p, spec.profile)])
        except CommandError as exc:
            raise BackendError(str(exc)) from None
        self._start_processes(spec, ns)

    def attach(self, spec: InstanceSpec, port: dict) -> None:
        ns = self._require(spec)
        if (SYS_NET / self.tap(port["port_id"])).exists():
            try:  # plugged already: (re)load its filter and pins, what reconcile asks for
                self._filter([port], spec.profile)
                self._pin(ns, spec.profile, [port])
            except CommandError as exc:
                raise BackendError(str(exc)) from None
            return
        used = [int(m.group(1)) for name in self._interfaces(ns) if (m := _ETH.match(name))]
        self._plug(ns, port, f"eth{max(used, default=-1) + 1}", spec.profile)
        if spec.profile == "tenant" and profiles.running(self.runner, self._dir(spec.id)):
            self._start_processes(spec, ns)

    def detach(self, spec: InstanceSpec, port: dict) -> None:
        ns = self._require(spec)
        mac = port.get("mac_address", "").lower()
        for ifname, info in self._interfaces(ns).items():
            if info.get("address", "").lower() == mac:
                profiles.stop_interface(self.runner, self._dir(spec.id), ifname)
        self._unfilter([self.tap(port["port_id"])])
        self._unpin([port], spec.profile)
        self.runner.run(["ip", "link", "del", self.tap(port["port_id"])], check=False)
        self._drop_bridge_if_empty(port)

    def link_up(self, spec: InstanceSpec, port_ids: tuple[str, ...]) -> str:
        if spec.profile != "tenant":
            return f"{spec.profile} instance: no DHCP client to tell"
        ns, directory = self.netns(spec.id, spec.profile), self._dir(spec.id)
        if not (NETNS_DIR / ns).exists() or not profiles.running(self.runner, directory):
            return "not running on this host: nothing to do"
        plan = vif_plugged.plan(spec.ports, port_ids, self.runner.addresses(ns))
        for ifname in plan.restart:
            profiles.restart_dhclient(self.runner, ns, directory, ifname)
        return plan.summary()

    def observe(self) -> dict[str, Observed]:
        out = {}
        names = os.listdir(NETNS_DIR) if NETNS_DIR.exists() else []
        filtered = self._filtered_ifindexes() if names else set()
        root, bridge_macs = self._root_pins() if names and self.mgmt_host_address \
            else ([], {})
        root_by_mac = neighbours.by_mac(root)  # once: each namespace looks up its MACs
        reference = self.mgmt_host_address
        if self.holder_mac:  # appliances pin a holder's MAC, not their bridge's
            mac, reference = self._reference()
            bridge_macs = {dev: mac for dev in bridge_macs}
        for name in names:
            found = self.parse_netns(name)
            if found is None:
                continue
            profile, instance_id = found
            pinned: tuple[tuple[str, str], ...] | None = None
            if profile == "appliance" and self.mgmt_host_address:
                links, inside = self._links_and_pins(name)
                pinned = neighbours.complete(root_by_mac, bridge_macs, links, inside,
                                             reference)
            else:
                links = self._interfaces(name)
            macs = tuple(i.get("address", "") for i in links.values())
            guarded = tuple(i.get("address", "") for i in links.values()
                            if i.get("link_index") in filtered)
            missing: tuple[str, ...] = ()
            if profile == "tenant":
                running = profiles.running(self.runner, self._dir(instance_id))
                if running:
                    missing = profiles.missing(self.runner, self._dir(instance_id),
                                               list(links))
            else:  # nothing runs inside: "running" is its links being up
                running = all("UP" in i.get("flags", ()) for i in links.values())
            out[instance_id] = Observed(instance_id, running, macs, profile, missing, guarded,
                                        pinned)
        return out

    def parse_netns(self, name: str) -> tuple[str, str] | None:
        """(profile, instance id) of one of our namespace names, else None."""
        for profile, prefix in self.prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return profile, name.removeprefix(prefix)
        return None

    def sweep_bridges(self) -> list[str]:
        """Remove our bridges left with no member (after orphans whose ports are unknown).
        The holder reads the management networks first: an older read may predate an
        appliance booting elsewhere."""
        self._read_mgmt_bridges()
        names = os.listdir(SYS_NET) if SYS_NET.exists() else []
        dropped = []
        for br in sorted(n for n in names if n.startswith(self.bridge_prefix)):
            if not self._empty(br) or self._kept(br):
                continue
            with self._bridge_locks[br]:  # a plug may have joined it since
                if self._empty(br):
                    self._del_bridge(br)
                    dropped.append(br)
        return dropped

    def sync_tunnels(self) -> list[str]:
        """Flood entries of this host's vxlan devices made equal to their peers (the
        ``bridge`` lines applied), after the holder's management bridge is made if an
        appliance needs it; nothing without a tunnel address."""
        if self.overlay is None:
            return []
        made = self.ensure_management()
        try:
            synced = made + self.overlay.sync()
        except OverlayError as exc:
            raise BackendError(f"VXLAN flood entries not synced: {exc}") from None
        return synced + self.sync_pins()

    def ensure_management(self) -> list[str]:
        """On the holder of the management address (the management network spanning
        hosts): the management bridge with the address, the holder's MAC and its vxlan
        device, made or made right while any appliance of any host has a management
        port, even with none here (the appliances elsewhere reach the address through
        it); the ``ip`` lines applied. Never raises: one WARNING line instead."""
        if not (self.mgmt_tunnelled and self.holds_mgmt_address) or self.overlay is None:
            return []
        nets = self._read_mgmt_bridges()
        if nets is None:
            return []
        applied: list[str] = []
        for net_id in sorted(nets):
            br = self.bridge(net_id)
            with self._bridge_locks[br]:
                fresh = not (SYS_NET / br).exists()
                lines, _ = self._bridge_mac(br)
                try:
                    if not fresh and self.runner.set_ipv6([br], enabled=True):
                        self._addressed.discard(br)  # turned off, its address went
                    vx, flood = self._vxlan_lines(net_id)
                    if lines or vx or fresh or br not in self._addressed:
                        lines += [f"link set {br} up", *self._address_lines(br)] + vx
                        self.runner.batch(lines)
                        self._addressed.add(br)
                    if flood:
                        self.runner.run(["bridge", "-batch", "-"],
                                        stdin="\n".join(flood) + "\n")
                except (BackendError, CommandError) as exc:
                    LOG.warning("management bridge %s not made: %s", br, exc)
                    continue
                if lines:  # a MAC set flushed its pins: a sweep reading meanwhile waits
                    self._pin_generation[br] += 1
            applied += lines
        return applied

    def stop_holding(self) -> list[str]:
        """This holder lost its claim (another host holds the address now): hold it no
        more. Its management bridges lose the holder MAC (a random one instead), its
        address and the metadata address; the lines applied. Idempotent."""
        if not (self.mgmt_tunnelled and self.holds_mgmt_address):
            return []
        self.holds_mgmt_address = False
        applied: list[str] = []
        try:
            bridges = sorted(p.name for p in SYS_NET.iterdir()
                             if p.name.startswith(self.bridge_prefix))
        except OSError:
            bridges = []
        for br in bridges:
            with self._bridge_locks[br]:
                try:
                    mac = (SYS_NET / br / "address").read_text().strip().lower()
                except OSError:
                    continue
                if mac != self.holder_mac:
                    continue
                lines, _ = self._bridge_mac(br)  # not holding: a random MAC
                lines.append(f"addr del {self.mgmt_host_address} dev {br}")
                if self.metadata_address:
                    meta = ipaddress.ip_address(self.metadata_address)
                    lines.append(f"addr del {meta}/{meta.max_prefixlen} dev {br}")
                self._batch_ignoring(lines)
                self._pin_generation[br] += 1
                self._addressed.discard(br)
            applied += lines
        return applied

    def sync_pins(self) -> list[str]:
        """The management network spanning hosts: the holders' view read now, every
        appliance namespace pinned from it that was pinned from another, and on a
        holder the other live hosts' appliances pinned on its bridge; the lines applied
        ("NS: line" inside a namespace). Never raises: one WARNING line instead."""
        if not self.mgmt_tunnelled or self.overlay is None:
            return []
        try:
            view = self.overlay.holder_view()
        except OverlayError as exc:
            LOG.warning("management pins not synced: %s", exc)
            return []
        self._view = view
        return self._sync_inside(view) + self._sync_remote(view)

    def _inside_wanted(self) -> frozenset[tuple[str, str]]:
        """The pairs an appliance namespace pins (a holder's view): every live holder's,
        the metadata address to its holder's; with no live holder known, this host's
        address to the MAC derived from it (one holder with one address for all, as
        before holders claimed theirs)."""
        view = self._current_view()
        if view is not None and view.live:
            return holders.inside_pairs(self.host, view.live, self.metadata_address)
        assert self.holder_mac is not None
        return frozenset({(self.holder_mac, neighbours.host_ip(self.mgmt_host_address))})

    def _current_view(self) -> HolderView | None:
        if self._view is None and self.mgmt_tunnelled and self.overlay is not None:
            try:
                self._view = self.overlay.holder_view()
            except OverlayError as exc:
                LOG.warning("management holders not read: %s", exc)
        return self._view

    def _reference(self) -> tuple[str, str]:
        """(MAC, address) of the holder whose pin tells an appliance namespace pinned
        (``observe``): the metadata address's holder, or this host's own."""
        view = self._current_view()
        if view is not None and view.live:
            address = view.live[str(holders.metadata_holder(self.host, view.live))]
            return neighbours.holder_mac(address), neighbours.host_ip(address)
        assert self.holder_mac is not None
        return self.holder_mac, neighbours.host_ip(self.mgmt_host_address)

    def _inside_lines(self, ns: str, bridge_mac: str, ifname: str) -> list[str]:
        """The lines pinning, inside appliance namespace ``ns``, the way to the host:
        this host's address to its bridge's MAC; spanning hosts, the holders' pairs
        (remembered for ``_sync_inside``)."""
        if not self.mgmt_tunnelled:
            return neighbours.host_pin_lines(self.mgmt_host_address, bridge_mac, ifname)
        wanted = self._inside_wanted()
        self._inside_pinned[ns] = wanted
        return neighbours.pin_lines(wanted, ifname)

    def _sync_inside(self, view: HolderView) -> list[str]:
        """Pin again each appliance namespace whose pins came from another view (or
        none known: after a restart), on its management interface (the one whose MAC
        the root pins on a management bridge), if up (a stopped one is pinned when
        started)."""
        wanted = self._inside_wanted()
        names = [n for n in (os.listdir(NETNS_DIR) if NETNS_DIR.exists() else [])
                 if (self.parse_netns(n) or ("", ""))[0] == "appliance"]
        self._inside_pinned = {ns: p for ns, p in self._inside_pinned.items() if ns in names}
        todo = [ns for ns in names if self._inside_pinned.get(ns) != wanted]
        if not todo:
            return []
        mgmt = {self.bridge(n) for n in view.networks}
        macs = {e["lladdr"].lower() for e in self._root_pins()[0] if e.get("dev") in mgmt}
        applied: list[str] = []
        for ns in todo:
            links, inside = self._links_and_pins(ns)
            ifnames = [name for name, link in links.items()
                       if str(link.get("address", "")).lower() in macs
                       and "UP" in link.get("flags", ())]
            if not ifnames:
                continue
            lines = [line for i in ifnames
                     for line in holders.inside_lines(inside, wanted, i, self.metadata_address)]
            try:
                if lines:
                    self.runner.batch(lines, netns=ns)
            except CommandError as exc:
                LOG.warning("management pins in %s not made: %s", ns, exc)
                continue
            self._inside_pinned[ns] = wanted
            applied += [f"{ns}: {line}" for line in lines]
        return applied

    def _sync_remote(self, view: HolderView) -> list[str]:
        """On a holder: the other live hosts' appliances' management addresses pinned
        to their MACs on its management bridges (ours to reach them without asking
        across the tunnel); those of the last sync no longer wanted removed."""
        if not self.holds_mgmt_address:
            self._remote = frozenset()
            return []
        applied: list[str] = []
        for net_id in sorted(view.networks):
            br = self.bridge(net_id)
            with self._bridge_locks[br]:
                if not (SYS_NET / br).exists():
                    continue
                lines = holders.bridge_lines(self._neighbours(["dev", br]), view.remote,
                                             self._remote, br)
                if not lines:
                    continue
                try:
                    self.runner.batch(lines)
                except CommandError as exc:
                    LOG.warning("management pins on %s not made: %s", br, exc)
                    continue
                self._pin_generation[br] += 1
            applied += lines
        self._remote = view.remote
        return applied

    def _read_mgmt_bridges(self) -> frozenset[str] | None:
        """On the holder: the management networks' ids, read now, their bridges kept
        (``_kept``); None (and every holder-MAC bridge kept) if the read failed."""
        if not (self.mgmt_tunnelled and self.holds_mgmt_address) or self.overlay is None:
            return None
        try:
            nets = self.overlay.management_networks()
        except OverlayError as exc:
            LOG.warning("management bridge not checked: %s", exc)
            self._mgmt_bridges = None
            return None
        self._mgmt_bridges = frozenset(self.bridge(n) for n in nets)
        return nets

    def drop_tunnels(self) -> list[str]:
        """Without a tunnel address (emptied since it was set): our vxlan devices,
        removed with their flood entries; the names removed."""
        if self.overlay is not None:
            return []
        out = self.runner.run(["ip", "-j", "link", "show", "type", "vxlan"], check=False)
        try:
            links = json.loads(out) if out.strip() else []
        except ValueError:
            return []
        names = vxlan.named(links, vxlan.device_prefix(self.bridge_prefix))
        for name in names:
            self.runner.run(["ip", "link", "del", name], check=False)
        return names

    def ensure_tunnels(self, ports: Iterable[dict]) -> list[str]:
        """The vxlan device of every tunnelled network of ``ports`` (this host's stored
        ports) whose bridge is here, made or made right (a bridge made before the
        tunnel address was set has none); the ``ip`` lines applied."""
        if self.overlay is None:
            return []
        applied: list[str] = []
        # one port per network; a management port wins (one unmarked must not hide it)
        nets = {p["net_id"]: p for p in sorted(ports, key=self.is_mgmt)
                if p.get("net_id") and self.tunnelled(p)}
        links = self._vxlan_links() if nets else {}  # one read, not one per network
        for net_id in sorted(nets):
            br = self.bridge(net_id)
            with self._bridge_locks[br]:
                if not (SYS_NET / br).exists():
                    continue  # no port plugged: the ports repair plugs them
                try:
                    lines, flood = self._vxlan_lines(net_id, links)
                    drop = self._drop_mgmt_address(br, nets[net_id])
                    lines += drop
                    if lines:
                        self.runner.batch(lines)
                    if drop:  # done only once removed: a failed batch tries it again
                        self._mgmt_address_dropped.add(br)
                    if flood:
                        self.runner.run(["bridge", "-batch", "-"], stdin="\n".join(flood) + "\n")
                except (BackendError, CommandError) as exc:
                    LOG.warning("vxlan: the device of network %s not made: %s", net_id, exc)
                    continue
            applied += lines
        return applied

    def _drop_mgmt_address(self, br: str, port: dict) -> list[str]:
        """On a host not holding the management address (the management network
        spanning hosts): the line removing it from management bridge ``br`` if it is
        there (held since before ``management_address_host`` was set: one holder only,
        or two hosts on one L2 answer for it). Read until removed once (the caller marks
        it done after its batch ran): nothing here puts it back. Called holding the
        bridge's lock."""
        if self.holds_mgmt_address or not self.is_mgmt(port) \
                or br in self._mgmt_address_dropped:
            return []
        out = self.runner.run(["ip", "-j", "addr", "show", "dev", br], check=False)
        if not out.strip():
            return []  # no answer (ip failed): nothing known, read again next pass
        if not holds_address(out, self.mgmt_host_address):
            self._mgmt_address_dropped.add(br)
            return []
        LOG.warning("management bridge %s: removed the management address %s (not a "
                    "holder: management_address_host = %s)", br, self.mgmt_host_address,
                    ",".join(self.mgmt_address_host))
        return [f"addr del {self.mgmt_host_address} dev {br}"]

    def sweep_filters(self) -> list[str]:
        """Remove anti-spoofing chains whose tap is gone (left by a crash or by hand);
        a chain is loaded only once its tap exists, so one without is nobody's."""
        out = self.runner.run(antispoof.LIST_CHAINS, check=False)
        try:
            names = antispoof.chains(json.loads(out)) if out.strip() else set()
        except ValueError:
            return []
        stale = sorted(n for n in names if not (SYS_NET / n).exists())
        self._unfilter(stale)
        return stale

    def sweep_pins(self, observed: dict[str, Observed]) -> list[str]:
        """Remove the pins on our bridges naming a MAC no namespace of ours has (one
        deleted by hand: its veth went, the entry on the bridge stayed); "dst dev" each."""
        if not self.mgmt_host_address:
            return []
        remote = {mac for mac, _ in self._remote}  # a holder's pins of other hosts'
        seen = {m.lower() for o in observed.values() for m in o.ports} | remote
        root, _ = self._root_pins()
        bridges = sorted({e["dev"] for e in neighbours.stale(root, seen)})
        if not bridges:
            return []
        # Again from scratch, a plug since the observation may have pinned a MAC it did
        # not see; but reading a thousand namespaces takes seconds, so without the
        # lock, which every create of an appliance waits for: a bridge pinned again
        # meanwhile is left for the next pass.
        generations = {br: self._pin_generation[br] for br in bridges}
        live = self._all_macs() | remote
        removed: list[str] = []
        for br in bridges:
            with self._bridge_locks[br]:
                if self._pin_generation[br] != generations[br]:
                    continue
                lines = [f"neigh del {e['dst']} dev {br}"
                         for e in neighbours.stale(self._neighbours(["dev", br]), live)]
                for line in lines:
                    self.runner.run(["ip", *line.split()], check=False)
            removed += [line.removeprefix("neigh del ") for line in lines]
        return removed

    # helpers -----------------------------------------------------------------------
    def _all_macs(self) -> set[str]:
        names = os.listdir(NETNS_DIR) if NETNS_DIR.exists() else []
        return {str(link.get("address", "")).lower() for name in names
                if self.parse_netns(name) for link in self._interfaces(name).values()}

    def _root_pins(self) -> tuple[list[dict], dict[str, str]]:
        """The root namespace's PERMANENT entries on our bridges, and those bridges' MACs."""
        root = [e for e in self._neighbours([])
                if str(e.get("dev", "")).startswith(self.bridge_prefix)]
        macs = {}
        for dev in {e["dev"] for e in root}:
            with contextlib.suppress(OSError):
                macs[dev] = (SYS_NET / dev / "address").read_text().strip()
        return root, macs

    def _links_and_pins(self, ns: str) -> tuple[dict[str, dict], list[dict]]:
        """``_interfaces`` and the PERMANENT entries of ``ns``, from one read."""
        links, pins = self.runner.links(ns)
        return ({link["ifname"]: link for link in links if link.get("ifname") != "lo"},
                neighbours.permanent(pins))

    def _host_peers(self, ns: str) -> set[str]:
        """Host-side names of the veths whose other end is in ``ns``."""
        out = set()
        for link in self._interfaces(ns).values():
            with contextlib.suppress(OSError, TypeError, ValueError):
                name = socket.if_indextoname(link["link_index"])
                if name.startswith("tap"):
                    out.add(name)
        return out

    def _require(self, spec: InstanceSpec) -> str:
        ns = self.netns(spec.id, spec.profile)
        if not (NETNS_DIR / ns).exists():
            raise BackendError(f"namespace {ns} does not exist")
        return ns

    def _interfaces(self, ns: str) -> dict[str, dict]:
        return self._links_and_pins(ns)[0]

    def _adds(self, plugs: list[tuple[dict, str]]) -> list[tuple[str, str, str]]:
        """(bridge, device, network) of each port a plug puts on a bridge: its taps and a
        tunnelled network's vxlan device (not counted once on its bridge)."""
        adds = [(self.bridge(p["net_id"]), self.tap(p["port_id"]), p["net_id"])
                for p, _ in plugs]
        for port in {self.bridge(p["net_id"]): p for p, _ in plugs}.values():
            if self.tunnelled(port):
                assert self.overlay is not None
                # (a VNI that cannot be had fails the plug below, saying why)
                with contextlib.suppress(OverlayError, vxlan.VniExhausted):
                    adds.append((self.bridge(port["net_id"]),
                                 self.vxlan_device(self.overlay.vni(port["net_id"])),
                                 port["net_id"]))
        return adds

    @staticmethod
    def _bridge_ports(br: str) -> set[str]:
        try:
            return set(os.listdir(SYS_NET / br / "brif"))
        except FileNotFoundError:
            return set()  # not made yet

    def _plug(self, ns: str, port: dict, ifname: str, profile: str) -> None:
        self._plug_all(ns, [(port, ifname)], False, profile)

    def _plug_all(self, ns: str, plugs: list[tuple[dict, str]], fresh: bool,
                  profile: str) -> None:
        """Namespace (if ``fresh``), bridges and veths made in one ``ip -batch`` on the
        host, IPv6 off on the plug's taps and networks' bridges but a management
        network's (``_layer2_only``), then their wiring and links up in a second batch
        (holding the bridges' locks, sorted), the profile's sysctls, then the links up
        inside in a third batch."""
        bridges = sorted({self.bridge(port["net_id"]) for port, _ in plugs})
        with contextlib.ExitStack() as held:
            for br in bridges:
                held.enter_context(self._bridge_locks[br])
            # Counted under the bridges' locks, before anything is made: a full bridge
            # refuses the plug whole.
            if why := bridge_ports.refusal(
                    {br: self._bridge_ports(br) for br in bridges}, self._adds(plugs),
                    self.host or socket.gethostname()):
                raise BackendError(why)
            made = [f"netns add {ns}"] if fresh else []
            host: list[str] = []
            frames_only: list[str] = []  # its taps and networks' bridges: no IPv6 there
            inside = {} if fresh else self._interfaces(ns)
            # Only an appliance's port (booted by an admin) marked by the compute API is
            # taken for a management port.
            fixed = {self.bridge(p["net_id"]) for p, _ in plugs
                     if profile == "appliance" and self.is_mgmt(p) and self.mgmt_host_address}
            # A management network's bridge keeps IPv6 whoever is plugged: turning it
            # off would drop the host's management address on it.
            management = {self.bridge(p["net_id"]) for p, _ in plugs if self.is_mgmt(p)}
            macs: dict[str, str] = {}  # the management bridge's (fixed) MAC
            for br in bridges:
                if br in fixed:
                    lines, macs[br] = self._bridge_mac(br)
                    host += lines
                else:
                    if not (SYS_NET / br).exists():
                        made.append(f"link add {br} type bridge")
                    if br not in management:
                        frames_only.append(br)
                host.append(f"link set {br} up")
            flood: list[str] = []  # ``bridge`` lines, after the devices exist
            for port in {self.bridge(p["net_id"]): p for p, _ in plugs}.values():
                if self.tunnelled(port):
                    lines, flood_lines = self._vxlan_lines(port["net_id"])
                    host += lines
                    flood += flood_lines
            host_pins: list[str] = []
            new: list[tuple[dict, str]] = []  # the veths this plug makes
            for port, ifname in plugs:
                br, tap = self.bridge(port["net_id"]), self.tap(port["port_id"])
                if br in fixed and self.holds_mgmt_address and not self._address_held(br):
                    host += self._address_lines(br)
                if not (SYS_NET / tap).exists():
                    new.append((port, ifname))
                    if ifname in inside:  # a leftover of an interrupted plug
                        self.runner.run(["ip", "-n", ns, "link", "del", ifname], check=False)
                    mtu = f" mtu {self._mtu()}" if self.tunnelled(port) else ""
                    made.append(f"link add {tap}{mtu} type veth peer name {ifname}{mtu} "
                                f"address {port['mac_address']} netns {ns}")
                frames_only.append(tap)
                host.append(f"link set {tap} master {br} up")
                if profile == "appliance" and self.is_mgmt(port):
                    host.append(neighbours.fdb_line(port["mac_address"], tap))
                if pairs := self.pins(port, profile):
                    host += neighbours.pin_lines(pairs, br)
                    host_pins += self._inside_lines(ns, macs[br], ifname)
            if made:
                self.runner.batch(made)
            self._layer2_only(frames_only, [br for br in sorted(management)
                                            if (SYS_NET / br).exists()])
            self.runner.batch(host)
            if flood:
                self.runner.run(["bridge", "-batch", "-"], stdin="\n".join(flood) + "\n")
            for br in bridges:
                self._pin_generation[br] += 1
        # The instance's side is still down: nothing it sends passes unfiltered.
        self._filter([port for port, _ in plugs], profile)
        ifnames = [ifname for _, ifname in plugs]
        # IPv6 off only on the veths made now: one plugged before may hold IPv6 the
        # appliance agent turned on since (a create tried again after a restart).
        if values := profiles.sysctls(profile, ifnames, profiles.without_ipv6(profile, new)):
            self.runner.sysctl(ns, values)
        self.runner.batch(["link set lo up"] + [f"link set {i} up" for i in ifnames]
                          + host_pins, netns=ns)

    def _layer2_only(self, devices: list[str], management: list[str]) -> None:
        """IPv6 off on a plug's host devices (taps, networks' bridges, made now or
        left by an earlier try or version), before they go up: they only carry
        frames. Each device up on the host adds a link-local address and routes, and
        every link change walks all the host's IPv6 routes holding the lock all link
        changes share: at a thousand appliances, twelve thousand routes, the slowest
        part of a plug (bench/appliance_plug.py). A management bridge has IPv6 (it
        holds the host's management address): given back if a plug that did not take
        it for one (a tenant's server on that network) turned it off."""
        if devices:
            self.runner.set_ipv6(devices, enabled=False)
        if management:
            self.runner.set_ipv6(management, enabled=True)

    def _vxlan_lines(self, net_id: str,
                     links: dict[str, dict] | None = None) -> tuple[list[str], list[str]]:
        """The ``ip`` lines making ``net_id``'s vxlan device on its bridge and the
        ``bridge`` lines of its flood entries; if the device is there, the lines
        making it right (``vxlan.existing_lines``): never trusted by its name.
        ``links``: the vxlan devices by name, read once for many networks."""
        assert self.overlay is not None
        try:
            vni = self.overlay.vni(net_id)
            dev, br = self.vxlan_device(vni), self.bridge(net_id)
            if (SYS_NET / dev).exists():
                link = links.get(dev) if links is not None else self._link(dev)
                lines, anew = vxlan.existing_lines(link, self._master(dev), dev,
                                                   vni, self.overlay.local,
                                                   self.overlay.mtu(), br)
                if not anew:
                    return lines, []
            else:
                lines = vxlan.device_lines(dev, vni, self.overlay.local, self.overlay.mtu(),
                                           br)
            return lines, vxlan.fdb_diff({dev: self.overlay.peers(net_id)}, {})
        except (OverlayError, vxlan.VniExhausted) as exc:
            raise BackendError(f"network {net_id} cannot span hosts: {exc}") from None

    def _link(self, dev: str) -> dict | None:
        """``ip -d -j link show dev`` of ``dev`` (None if unreadable)."""
        out = self.runner.run(["ip", "-d", "-j", "link", "show", "dev", dev], check=False)
        try:
            links = json.loads(out) if out.strip() else []
        except ValueError:
            return None
        return links[0] if links and isinstance(links[0], dict) else None

    def _vxlan_links(self) -> dict[str, dict]:
        """Every vxlan device of this host by name (``ip -d -j link show type vxlan``)."""
        out = self.runner.run(["ip", "-d", "-j", "link", "show", "type", "vxlan"],
                              check=False)
        try:
            links = json.loads(out) if out.strip() else []
        except ValueError:
            return {}
        return {str(link["ifname"]): link for link in links
                if isinstance(link, dict) and "ifname" in link}

    @staticmethod
    def _master(dev: str) -> str | None:
        """The bridge ``dev`` is on (None: on none)."""
        try:
            return os.path.basename(os.readlink(SYS_NET / dev / "master"))
        except OSError:
            return None

    def _mtu(self) -> int:
        assert self.overlay is not None
        try:
            return self.overlay.mtu()
        except OverlayError as exc:
            raise BackendError(str(exc)) from None

    def _empty(self, br: str) -> bool:
        """Whether bridge ``br`` has no member but our vxlan device."""
        members = SYS_NET / br / "brif"
        if not members.exists():
            return False
        prefix = vxlan.device_prefix(self.bridge_prefix)
        return all(m.name.startswith(prefix) for m in members.iterdir())

    def _del_bridge(self, br: str) -> None:
        """Remove bridge ``br`` and the vxlan device on it (it goes with its bridge);
        only our vxlan device: a veth that joined meanwhile is never deleted with it.
        Called holding the bridge's lock."""
        prefix = vxlan.device_prefix(self.bridge_prefix)
        with contextlib.suppress(OSError):
            for member in (SYS_NET / br / "brif").iterdir():
                if member.name.startswith(prefix):
                    self.runner.run(["ip", "link", "del", member.name], check=False)
        self.runner.run(["ip", "link", "del", br], check=False)

    def _bridge_mac(self, br: str) -> tuple[list[str], str]:
        """The lines giving the management bridge a MAC of its own, and that MAC: made
        with a random one, or an older bridge's current one kept (set once: setting it
        flushes the bridge's entries). With the management network spanning hosts, the
        holder's is ``holder_mac`` and no other host's may be. Called holding the
        bridge's lock."""
        path = SYS_NET / br
        want = self.holder_mac if self.holder_mac and self.holds_mgmt_address else None
        if not path.exists():
            mac = want or neighbours.bridge_mac(os.urandom(6))
            # no multicast snooping: every appliance's reports are dropped at its tap
            # (``antispoof.quiet``), so a group table would never know the members of a
            # neighbour solicitation's group; flooding it is what reaches them
            return [f"link add {br} address {mac} type bridge mcast_snooping 0"], mac
        mac = (path / "address").read_text().strip()
        if want and mac.lower() != want:
            return [f"link set {br} address {want}"], want  # became the holder
        if self.holder_mac and not want and mac.lower() == self.holder_mac:
            mac = neighbours.bridge_mac(os.urandom(6))  # was the holder: no longer
            return [f"link set {br} address {mac}"], mac
        if (path / "addr_assign_type").read_text().strip() != str(neighbours.NET_ADDR_SET):
            return [f"link set {br} address {mac}"], mac
        return [], mac

    def _address_lines(self, br: str) -> list[str]:
        """This host's management address on ``br``, and on a holder the metadata
        address: a host route (no second prefix route), no DAD (every holder has it:
        DAD would fail it, and its probes would cross the tunnel), preferred
        lifetime 0 (never a source: the orchestrator's calls leave from this host's own
        address, which the replies come back to)."""
        six = ":" in self.mgmt_host_address
        lines = [f"addr replace {self.mgmt_host_address} dev {br}" + (" nodad" if six else "")]
        if self.metadata_address and self.mgmt_tunnelled and self.holds_mgmt_address:
            meta = ipaddress.ip_address(self.metadata_address)
            lines.append(f"addr replace {meta}/{meta.max_prefixlen} dev {br}" + (
                " nodad preferred_lft 0" if meta.version == 6 else ""))
        return lines

    def _address_held(self, br: str) -> bool:
        """Whether ``br`` holds every address ``_address_lines`` writes: a plug writes
        them only then (each write of one held already made the bridge send two
        multicast frames, flooded to every appliance on it). IPv6 ones are read from
        /proc/net/if_inet6 (no process, no dump); an IPv4 one is never known held."""
        try:
            held = ipv6_held(IF_INET6.read_text())
        except OSError:
            return False
        for line in self._address_lines(br):
            iface = ipaddress.ip_interface(line.split()[2])
            if iface.version != 6 or (br, str(iface)) not in held:
                return False
        return True

    def _kept(self, br: str) -> bool:
        """Whether ``br`` is the holder's current management bridge, kept empty:
        appliances on other hosts reach the management address through it. One of a
        management network no live appliance has any more (replaced) is not: swept, its
        address goes with it (two bridges holding it would split the orchestrator's
        traffic)."""
        if not (self.holder_mac and self.holds_mgmt_address):
            return False
        # An empty read keeps it too: ports stored before the ``management`` flag (or
        # no appliance live for a moment) must not take the bridge of every host's
        # appliances away.
        if self._mgmt_bridges and br not in self._mgmt_bridges:
            return False
        try:
            return (SYS_NET / br / "address").read_text().strip().lower() == self.holder_mac
        except OSError:
            return False

    def _pin(self, ns: str, profile: str, ports: list[dict]) -> None:
        """Pin both sides of each plugged port that wants it (idempotent)."""
        ports = [p for p in ports if self.pins(p, profile)]
        if not ports:
            return
        by_mac = {str(link.get("address", "")).lower(): name
                  for name, link in self._interfaces(ns).items()}
        inside: list[str] = []
        for port in ports:
            br = self.bridge(port["net_id"])
            ifname = by_mac.get(str(port.get("mac_address", "")).lower())
            if ifname is None or not (SYS_NET / br).exists():
                continue  # not plugged: a plug pins it
            with self._bridge_locks[br]:
                host, mac = self._bridge_mac(br)
                self.runner.batch(host + neighbours.pin_lines(self.pins(port, profile), br))
                self._pin_generation[br] += 1
            inside += self._inside_lines(ns, mac, ifname)
        self.runner.batch(inside, netns=ns)
        # pinned again over older pins: the next sync reads them (a gone holder's
        # pin is deleted only there)
        self._inside_pinned.pop(ns, None)

    def _unpin(self, ports: Iterable[dict], profile: str) -> None:
        """Remove the pins of ``ports`` still on their bridge, only those naming the
        port's MAC (read and removed holding the bridge's lock: a plug that gave the
        address to another port meanwhile keeps its pin)."""
        wanted = [(self.bridge(p["net_id"]), pairs) for p in ports
                  if (pairs := self.pins(p, profile))]
        for br in sorted({br for br, _ in wanted if (SYS_NET / br).exists()}):
            with self._bridge_locks[br]:
                found = self._neighbours(["dev", br])
                self._batch_ignoring([line for dev, pairs in wanted if dev == br
                                      for line in neighbours.unpin_lines(found, pairs, br)])

    def _batch_ignoring(self, lines: list[str]) -> None:
        """One ``ip -batch``; if something went away meanwhile, one at a time, ignoring."""
        try:
            self.runner.batch(lines)
        except CommandError:
            for line in lines:
                self.runner.run(["ip", *line.split()], check=False)

    def _neighbours(self, args: list[str], ns: str | None = None) -> list[dict]:
        """The PERMANENT entries ``ip -j neigh show nud permanent ARGS`` lists."""
        argv = ["ip", "-j", *(["-n", ns] if ns else []), "neigh", "show", "nud",
                "permanent", *args]
        out = self.runner.run(argv, check=False)
        try:
            return neighbours.permanent(json.loads(out)) if out.strip() else []
        except ValueError:
            return []

    def _filter(self, ports: list[dict], profile: str) -> None:
        """Load the anti-spoofing chain of each port that wants one and remove any chain
        left on the others' taps (port security turned off), in one transaction; nothing
        (not even the table) when no port wants one. Only chains that are there are
        deleted (a fresh plug has none: a deletion costs the transaction ~10 ms)."""
        if not any(antispoof.wanted(port, profile) for port in ports):
            return
        free = [self.tap(p["port_id"]) for p in ports if not antispoof.wanted(p, profile)]
        stale = self._chains_present(free)

        def lines(chain: Callable[[str, dict, bool], list[str]]) -> list[str]:
            out: list[str] = []
            for port in ports:
                tap = self.tap(port["port_id"])
                if antispoof.wanted(port, profile):
                    out += chain(tap, port, antispoof.quiet(port, profile))
                elif tap in stale:
                    out += antispoof.delete_script([tap])
            return out

        try:
            self.runner.run(["nft", "-f", "-"], stdin=antispoof.script(
                lines(antispoof.chain_script)))
        except CommandError:  # a chain there with another hook: replaced whole
            self.runner.run(["nft", "-f", "-"], stdin=antispoof.script(
                lines(antispoof.replace_script)))

    @staticmethod
    def _chains_present(taps: list[str]) -> set[str]:
        """Which of ``taps`` have one of our chains (all of them if the kernel cannot
        say: deleting an absent chain is harmless, keeping a stale one is not)."""
        try:
            return netlink.chains_present(netlink.NFPROTO_NETDEV, antispoof.TABLE, taps)
        except OSError:
            return set(taps)

    def _unfilter(self, taps: list[str]) -> None:
        if taps:
            self.runner.run(["nft", "-f", "-"], check=False,
                            stdin=antispoof.script(antispoof.delete_script(taps)))

    def _filtered_ifindexes(self) -> set[int]:
        """Host ifindexes of the taps our anti-spoofing table has a chain for."""
        out = self.runner.run(antispoof.LIST_CHAINS, check=False)
        try:
            names = antispoof.chains(json.loads(out)) if out.strip() else set()
        except ValueError:
            return set()
        found = set()
        for name in names:
            with contextlib.suppress(OSError, ValueError):
                found.add(int((SYS_NET / name / "ifindex").read_text()))
        return found

    def _kill_inside(self, ns: str) -> None:
        """SIGKILL every process whose network namespace is ``ns`` (ours by name)."""
        try:
            want = f"net:[{(NETNS_DIR / ns).stat().st_ino}]"
        except OSError:
            return
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/ns/net") == want:
                        os.kill(int(entry), signal.SIGKILL)

    def _drop_bridge_if_empty(self, port: dict) -> None:
        br = self.bridge(port["net_id"])
        with self._bridge_locks[br]:
            if self._empty(br) and not self._kept(br):
                if self.is_mgmt(port) and self.mgmt_host_address:
                    self.runner.run(["ip", "addr", "del", self.mgmt_host_address, "dev", br],
                                    check=False)
                self._del_bridge(br)

    def _start_processes(self, spec: InstanceSpec, ns: str,
                         interfaces: list[str] | None = None) -> str:
        directory = self._dir(spec.id)
        directory.mkdir(parents=True, exist_ok=True)
        if interfaces is None:
            interfaces = sorted(self._interfaces(ns))
        return profiles.start(self.runner, spec, ns, directory, interfaces, self.responders)
