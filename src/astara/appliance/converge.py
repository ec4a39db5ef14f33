"""Converge one appliance to a config document; roll back to the last good one on failure.

Called by the API (one call at a time per appliance, in a worker thread). Inside
the appliance's namespace: observe → `plan.netlink.diff` → ARP sysctls → netlink
ops (one batch) → nftables (full ruleset only when its base changed, else a
floating IP element delta; with no table there yet, created without a replace) →
forwarding sysctls (only once the firewall holds) → dnsmasq files → haproxy.
A document with a `loadbalancer` section
turns IPv4 forwarding off, runs no dnsmasq and one haproxy (`apply.haproxy`; its
configuration is rendered before anything changes, so a load balancer haproxy
cannot serve is refused as a document that does not fit). Any failure undoes the
netlink ops already run and re-applies the last good document (with none, stops every
dnsmasq process: a first push leaves none running); the error is kept for the status
document. A document with `ha` enabled then runs keepalived and conntrackd
(`apply.ha`; the addresses of the data interfaces and the routes are theirs, not
the plan's); leaving HA stops them before the plan looks, so it adds the addresses
they drop. An identical push is a no-op, unless a dnsmasq process it started has
gone (then it applies again: the missing process is started), and but for the
neighbour pins: when the kernel reported a change since they were last looked at
(`pins_unsure`), the pins it lost are added again, nothing else. When the only change since the last
good document is the floating IP set, the change follows from the two documents
alone (`render.nft.with_floating_ips`): one nftables element delta, checked by
its own transaction, with no observation, no netlink and no rendering. Should
that shortcut fail, nothing changed, and the full path runs. The last good
document is also kept on disk (`apply.record`): `restore()` lets an agent that
restarts take it over, when the stack still matches it. After a successful apply, the
addresses it added and the floating IPs it began to answer are announced from their
interface (`plan.announce`, `apply.announce`: gratuitous ARP, IPv6 NA), so neighbours
holding a previous owner's MAC switch at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from astara.appliance.apply import dhcp, record
from astara.appliance.apply import ha as apply_ha
from astara.appliance.apply import haproxy as apply_haproxy
from astara.appliance.apply.dnsmasq import Dnsmasq
from astara.appliance.apply.errors import CommandFailed
from astara.appliance.apply.ha import HaDaemons
from astara.appliance.apply.haproxy import Haproxy
from astara.appliance.apply.netlink import Netlink
from astara.appliance.apply.netns import entered, exists, identity, sysctl
from astara.appliance.apply.nft import Nft
from astara.appliance.observe.state import NetState
from astara.appliance.phases import Phases
from astara.appliance.plan import netlink as plan
from astara.appliance.plan.announce import Announcement, announcements
from astara.appliance.plan.ops import AddNeighbour, Op
from astara.appliance.render import conntrackd as render_conntrackd
from astara.appliance.render import dnsmasq as render_dnsmasq
from astara.appliance.render import haproxy as render_haproxy
from astara.appliance.render import keepalived as render_keepalived
from astara.appliance.render import nft as render_nft
from astara.wire import parse_config
from astara.wire.appliance_config import ApplianceConfig

LOG = logging.getLogger(__name__)
# Forwarding, and ARP answered only for the receiving interface's own addresses (a
# neighbour on one network must not learn the appliance's addresses on another).
SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1",
           "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.default.arp_ignore": "1",
           "net.ipv4.conf.all.arp_announce": "2", "net.ipv4.conf.default.arp_announce": "2",
           "net.ipv4.conf.all.proxy_arp": "0", "net.ipv4.conf.default.proxy_arp": "0"}
# A load balancer appliance forwards nothing (it is the endpoint of its listeners; its
# nftables forward chain drops everything too). IPv6 forwarding stays on: off, the
# kernel would take addresses and routes from the VIP network's router advertisements,
# which are not the document's.
NO_FORWARDING = {"net.ipv4.ip_forward": "0"}
OWN_TABLES = {("inet", "astara"), ("netdev", "astara")}  # `render.nft`


@dataclass
class Ports:
    netlink: Callable[[], Netlink]
    nft: Nft
    dnsmasq: Dnsmasq
    sysctl: Callable[[str, str], object] = sysctl  # whether it wrote
    haproxy: Haproxy | None = None  # None: this agent serves no load balancer
    # Called in the namespace with what an apply took over (`apply.announce.Announcer`);
    # None: announce nothing.
    announce: Callable[[Sequence[Announcement]], None] | None = None
    ha: HaDaemons | None = None  # None: this agent runs no HA member


FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


def sysctls(config: ApplianceConfig) -> dict[str, str]:
    return SYSCTLS if config.loadbalancer is None else {**SYSCTLS, **NO_FORWARDING}


def split_sysctls(config: ApplianceConfig) -> tuple[dict[str, str], dict[str, str]]:
    """(written before the netlink batch, written once the firewall is loaded). Pure."""
    wanted = sysctls(config)
    return ({k: v for k, v in wanted.items() if k not in FORWARDING},
            {k: v for k, v in wanted.items() if k in FORWARDING})


def ipv6_on(config: ApplianceConfig, names: dict[str, str]) -> dict[str, str]:
    """IPv6 on for each interface the document gives an IPv6 address (the compute
    agent plugs an interface whose port has none with IPv6 off, and the kernel
    refuses an IPv6 address there); written before the netlink batch. Pure. A name
    with a dot (a VLAN's) cannot be a sysctl key: left as it is."""
    return {f"net.ipv6.conf.{names[net.network_id]}.disable_ipv6": "0"
            for net in config.networks
            if any(a.version == 6 for a in net.interface.addresses)
            and "." not in names[net.network_id]}


@dataclass
class Result:
    changed: bool
    ops: list[Op] = field(default_factory=list)
    dhcp: list[str] = field(default_factory=list)
    nft: str = "none"  # "none" | "full" | "delta"
    haproxy: str = "none"  # "none" | "start" | "reload" | "stop"
    ha: str = "none"  # keepalived: "none" | "start" | "reload" | "stop"
    error: str | None = None
    announced: tuple[Announcement, ...] = ()
    rejected: bool = False  # the document does not fit this appliance; nothing changed
    phases: Phases = field(default_factory=Phases)  # where a full apply's time went


class Appliance:
    def __init__(self, name: str, netns: str | None, state_dir: Path, api_port: int,
                 ports: Ports) -> None:
        self.name, self.netns, self.state_dir = name, netns, state_dir
        self.api_port, self.ports = api_port, ports
        self.config: ApplianceConfig | None = None  # the last good (applied) document
        self.digest: str | None = None
        self.applies = 0
        self.last_error: str | None = None
        self._ruleset: render_nft.Ruleset | None = None  # what nftables holds, if known
        self._fips: frozenset[tuple[int, int]] = frozenset()  # as last applied
        self._stack: str | None = None  # `apply.netns.identity`, once known
        self._names: dict[str, str] = {}  # network_id -> ifname, as last applied
        # Set by the host on every change the kernel reports: an identical push then
        # looks for lost neighbour pins. Without its notifications (`pins_watched`
        # False), every identical push looks.
        self.pins_unsure = True
        self.pins_watched = False

    def apply(self, config: ApplianceConfig) -> Result:
        digest = config.digest()
        intact = self._dnsmasq_running() and self._haproxy_running() and self._ha_running()
        if digest == self.digest and self.last_error is None and intact:
            return self._repin(config) if self.pins_unsure else Result(changed=False)
        with entered(self.netns):
            if intact and self._only_floating_ips_changed(config):
                result = self._apply_floating_ips(config, digest)
                if result is not None:
                    return result
            return self._apply(config, digest)

    def _repin(self, config: ApplianceConfig) -> Result:
        """Add the neighbour pins the kernel lost; the rest is left as it is."""
        self.pins_unsure = not self.pins_watched  # before looking: a change sets it again
        done: list[Op] = []
        try:
            with entered(self.netns):
                netlink = self.ports.netlink()
                try:
                    netlink.run(plan.missing_pins(config, netlink.observe()), done)
                finally:
                    netlink.close()
        except Exception as exc:  # the document still stands; the next push tries again
            LOG.warning("appliance %s: re-adding neighbour pins failed: %s", self.name, exc)
            self.pins_unsure = True
        return Result(changed=bool(done), ops=done)

    def _dnsmasq_running(self) -> bool:
        """Are the dnsmasq processes of the last apply all there? Else the same push
        applies again (the health check reports the fault and pushes), which starts
        the missing ones and leaves the rest alone."""
        for ifname in dhcp.current_interfaces(self.state_dir):
            p = render_dnsmasq.paths(self.state_dir, ifname)
            if self.ports.dnsmasq.running(p["conf"], p["pid"]) is None:
                return False
        return True

    def _haproxy_running(self) -> bool:
        """Is the haproxy of the last good document there? Else, as for dnsmasq, the
        same push applies again and starts it."""
        if self.config is None or self.config.loadbalancer is None:
            return True
        proc = self.ports.haproxy
        return proc is not None and apply_haproxy.running(self.state_dir, proc) is not None

    def _ha_running(self) -> bool:
        """Are keepalived (and conntrackd) of the last good document there? Else, as
        for dnsmasq, the same push applies again and starts them."""
        if self.config is None or not self.config.ha.enabled:
            return True
        if self.ports.ha is None:
            return False
        keepalived, conntrackd = apply_ha.running(self.state_dir, self.ports.ha)
        return keepalived is not None and (conntrackd is not None
                                           or not self.config.ha.conntrack_sync)

    def _sync_ha(self, config: ApplianceConfig, names: dict[str, str]) -> str:
        """keepalived and conntrackd to `config`: started, reloaded or stopped."""
        proc = self.ports.ha
        if proc is None:
            if config.ha.enabled:
                raise CommandFailed("this agent cannot run keepalived (no ha port)")
            return "none"
        if not config.ha.enabled:
            return "none"  # `_release_ha` stopped them
        conntrackd = render_conntrackd.render(config, names, self.state_dir) \
            if config.ha.conntrack_sync else None
        sync_conf = render_conntrackd.paths(self.state_dir)["conf"] if conntrackd else None
        keepalived = (render_keepalived.render(config, names, self.state_dir),
                      render_keepalived.notify_script(self.state_dir, sync_conf))
        return apply_ha.sync(self.state_dir, keepalived, conntrackd, proc)

    def _release_ha(self, config: ApplianceConfig) -> str:
        """Leaving HA: keepalived goes before the plan looks, so the addresses it
        drops as it stops are added again as static ones by this apply."""
        if (config.ha.enabled or self.ports.ha is None
                or not render_keepalived.paths(self.state_dir)["conf"].exists()):
            return "none"
        return "stop" if apply_ha.stop(self.state_dir, self.ports.ha) else "none"

    def _haproxy_text(self, config: ApplianceConfig) -> str | None:
        """The haproxy configuration of `config` (None: no load balancer); raises
        `render.haproxy.RenderError` for what haproxy cannot serve."""
        if config.loadbalancer is None:
            return None
        user = self.ports.haproxy.user if self.ports.haproxy is not None else None
        return render_haproxy.render(config.loadbalancer, self.state_dir, user)

    def _sync_haproxy(self, text: str | None, config: ApplianceConfig) -> str:
        proc = self.ports.haproxy
        if proc is None:
            if text is None:
                return "none"
            raise CommandFailed("this agent cannot run haproxy (no haproxy port)")
        certs = render_haproxy.certificate_files(config.loadbalancer) \
            if config.loadbalancer is not None else {}
        return apply_haproxy.sync(self.state_dir, text, proc, certs)

    def _only_floating_ips_changed(self, config: ApplianceConfig) -> bool:
        """The shortcut; never on an HA member, whose floating IPs keepalived holds."""
        return (self.config is not None and self.last_error is None
                and not config.ha.enabled
                and self._ruleset is not None
                and config.same_except_floating_ips(self.config))

    def _apply_floating_ips(self, config: ApplianceConfig, digest: str) -> Result | None:
        """The shortcut; None when its delta was refused (nothing changed): full path."""
        assert self._ruleset is not None
        fips = config.floating_ip_pairs()
        ruleset = render_nft.with_floating_ips(self._ruleset, self._fips, fips)
        delta = render_nft.fip_delta(self._ruleset.floating, ruleset.floating)
        try:
            if delta:
                self.ports.nft.load_delta(delta)
        except Exception as exc:
            LOG.warning("appliance %s: floating IP delta failed, taking the full path: %s",
                        self.name, exc)
            self._ruleset = None  # not known any more: the full path reloads it all
            return None
        announced = self._announce(config, self._names, [], self._fips, fips)
        self._ruleset, self._fips = ruleset, fips
        self._applied(config, digest)
        return Result(changed=True, nft="delta" if delta else "none", announced=announced)

    def _apply(self, config: ApplianceConfig, digest: str) -> Result:
        result = Result(changed=True)
        timed = result.phases.timed
        with timed("observe"):
            netlink = self.ports.netlink()
        done: list[Op] = []
        try:
            with timed("render"):  # before any change: a refusal changes nothing
                haproxy = self._haproxy_text(config)
            with timed("ha"):
                result.ha = self._release_ha(config)
            with timed("observe"):
                observed = netlink.observe()
                ops = plan.diff(config, observed)
            early, forwarding = split_sysctls(config)
            early |= ipv6_on(config, plan.interface_names(config, observed))
            with timed("sysctl"):
                self._write_sysctls(early)
            with timed("netlink"):
                netlink.run(ops, done)
            result.ops = done
            result.nft = self._load_nft(config, observed, result.phases)
            with timed("sysctl"):  # forwarding: only once the firewall holds
                self._write_sysctls(forwarding)
            with timed("render"):
                files = self._dhcp_files(config, observed)
            with timed("dnsmasq"):
                result.dhcp = dhcp.sync(self.state_dir, files, self.ports.dnsmasq,
                                        result.phases)
            with timed("haproxy"):
                result.haproxy = self._sync_haproxy(haproxy, config)
            if config.ha.enabled:
                with timed("ha"):
                    result.ha = self._sync_ha(config, plan.interface_names(config, observed))
        except Exception as exc:
            LOG.warning("appliance %s: apply failed, rolling back: %s", self.name, exc)
            self.last_error = str(exc)
            self._forget()  # until an apply succeeds, the stack matches no document
            self._rollback(netlink, done)
            netlink.close()
            result.error = self.last_error
            result.rejected = isinstance(exc, plan.PlanError | render_haproxy.RenderError)
            return result
        netlink.close()
        fips = config.floating_ip_pairs()
        self._names = plan.interface_names(config, observed)
        with timed("announce"):
            result.announced = self._announce(config, self._names, done, self._fips, fips)
        self._fips = fips
        with timed("record"):
            self._applied(config, digest)
        return result

    def _write_sysctls(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self.ports.sysctl(key, value)

    def _announce(self, config: ApplianceConfig, names: dict[str, str], done: list[Op],
                  old: frozenset[tuple[int, int]],
                  new: frozenset[tuple[int, int]]) -> tuple[Announcement, ...]:
        """Announce what this apply took over (in the namespace; never fails it). An HA
        member's floating IPs are not its to announce: keepalived's master does."""
        if config.ha.enabled:
            new = old
        items = announcements(config, names, done, old, new)
        if items and self.ports.announce is not None:
            try:
                self.ports.announce(items)
            except Exception as exc:
                LOG.warning("appliance %s: announcing %d addresses failed: %s", self.name,
                            len(items), exc)
        return items

    def _applied(self, config: ApplianceConfig, digest: str) -> None:
        self.config, self.digest, self.last_error = config, digest, None
        self.applies += 1
        try:
            record.save(self.state_dir, self._identity(), config)
        except OSError as exc:  # applied all the same; a restarted agent applies it again
            LOG.warning("appliance %s: cannot record the applied config: %s", self.name, exc)
            self._forget()

    def _forget(self) -> None:
        try:
            record.remove(self.state_dir)
        except OSError as exc:
            LOG.error("appliance %s: cannot remove the applied record: %s", self.name, exc)

    def _identity(self) -> str:
        if self._stack is None:
            self._stack = identity(self.netns)
        return self._stack

    def restore(self) -> bool:
        """Take over the document a previous agent applied (its record), when the stack
        is the same one and still matches it: links, addresses and routes as the
        document wants them, and both nftables tables there; neighbour pins the kernel
        lost (a link set down and up) are added again. Then the status shows its
        digest, the same push is a no-op and a floating IP change takes the shortcut.
        Otherwise the record is dropped and the first push is a full apply."""
        try:
            found = record.load(self.state_dir)
            if found is None:
                return False
            stack, raw = found
            if stack != self._identity():
                raise LookupError("it was applied to another boot or namespace")
            config = parse_config(raw)
            with entered(self.netns):
                netlink = self.ports.netlink()
                try:
                    observed = netlink.observe()
                    names = plan.interface_names(config, observed)
                    ops = plan.diff(config, observed)
                    if any(not plan.is_pin(op) for op in ops):
                        raise LookupError("the network stack has changed since")
                    netlink.run([op for op in ops if isinstance(op, AddNeighbour)], [])
                finally:
                    netlink.close()
                if not OWN_TABLES.issubset(self.ports.nft.tables()):  # one dump, not the text
                    raise LookupError("the nftables tables are missing")
        except Exception as exc:  # any doubt: drop the record; the first push applies it all
            LOG.info("appliance %s: not taking over the recorded config: %s", self.name, exc)
            self._forget()
            return False
        self._ruleset = render_nft.render(config, names, self.api_port)
        self._fips, self._names = config.floating_ip_pairs(), names
        self.config, self.digest = config, config.digest()
        LOG.info("appliance %s: took over the recorded config %s", self.name, self.digest)
        return True

    def _load_nft(self, config: ApplianceConfig, observed: NetState,
                  phases: Phases | None = None) -> str:
        timed = (phases or Phases()).timed
        with timed("render"):
            names = plan.interface_names(config, observed)
            ruleset = render_nft.render(config, names, self.api_port)
        old = self._ruleset
        self._ruleset = None  # unknown until this load succeeds
        if old is not None and old.base == ruleset.base:
            delta = render_nft.fip_delta(old.floating, ruleset.floating)
            if delta:
                with timed("nft"):
                    self.ports.nft.load_delta(delta)
            self._ruleset = ruleset
            return "delta" if delta else "none"
        with timed("nft"):  # no table to replace (a first push): only create them
            fresh = old is None and self._own_tables_absent()
        with timed("render"):
            text = ruleset.full(fresh)
        with timed("nft"):
            self.ports.nft.load_full(text)
        self._ruleset = ruleset
        return "full"

    def _own_tables_absent(self) -> bool:
        """Neither of our nftables tables is there (one dump; this apply holds the
        appliance's lock and nothing else makes them). In doubt, False: replace."""
        try:
            return not OWN_TABLES & self.ports.nft.tables()
        except OSError as exc:
            LOG.warning("appliance %s: cannot list the nftables tables: %s", self.name, exc)
            return False

    def _dhcp_files(self, config: ApplianceConfig,
                    observed: NetState) -> list[render_dnsmasq.DnsmasqFiles]:
        if config.loadbalancer is not None:
            return []  # a load balancer serves no DHCP or RA
        names = plan.interface_names(config, observed)
        upstream = tuple(str(ip) for net in config.network("external")
                         for s in net.subnets for ip in s.dns_nameservers)
        return [
            render_dnsmasq.render(net, names[net.network_id], self.state_dir, upstream,
                                  follow_addresses=config.ha.enabled)
            for net in config.network("internal") if render_dnsmasq.served(net)
        ]

    def _undo(self, netlink: Netlink, done: list[Op]) -> None:
        try:
            netlink.run([op.inverse() for op in reversed(done)], [])
        except Exception as exc:  # the batch ran to its end; report what failed
            LOG.error("appliance %s: undoing netlink ops failed: %s", self.name, exc)

    def _rollback(self, netlink: Netlink, done: list[Op]) -> None:
        self._undo(netlink, done)
        if self.config is None:  # a first push: none of its processes stays
            try:
                dhcp.stop_all(self.state_dir, self.ports.dnsmasq)
            except Exception as exc:
                LOG.error("appliance %s: stopping the dnsmasq processes failed: %s",
                          self.name, exc)
            return
        try:
            self._release_ha(self.config)
            observed = netlink.observe()
            netlink.run(plan.diff(self.config, observed), [])
            self._ruleset = None
            self._load_nft(self.config, observed)
            dhcp.sync(self.state_dir, self._dhcp_files(self.config, observed),
                      self.ports.dnsmasq)
            self._sync_haproxy(self._haproxy_text(self.config), self.config)
            self._sync_ha(self.config, plan.interface_names(self.config, observed))
        except Exception as exc:
            LOG.error("appliance %s: re-applying the last good config failed: %s",
                      self.name, exc)

    def teardown(self) -> None:
        """Stop this appliance's processes and remove its files (the namespace stays).

        Also works once the namespace is gone (host mode drops an appliance whose
        namespace was deleted): its dnsmasq processes are stopped by pid."""
        with entered(self.netns if exists(self.netns) else None):
            dhcp.stop_all(self.state_dir, self.ports.dnsmasq)
            if self.ports.haproxy is not None:
                apply_haproxy.stop(self.state_dir, self.ports.haproxy)
            if self.ports.ha is not None:
                apply_ha.stop(self.state_dir, self.ports.ha)
            self.ports.nft.close()
        for path in self.state_dir.glob("*"):
            path.unlink(missing_ok=True)
