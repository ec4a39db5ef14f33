"""Converge one appliance to a config document; roll back to the last good one on failure.

Called by the API (one call at a time per appliance, in a worker thread). Inside
the appliance's namespace: observe → `plan.netlink.diff` → netlink ops → nftables
(full ruleset only when its base changed, else a floating IP element delta) →
dnsmasq files. Any failure undoes the netlink ops already run and re-applies the
last good document; the error is kept for the status document. An identical
push is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from astara.appliance.apply import dhcp
from astara.appliance.apply.dnsmasq import Dnsmasq
from astara.appliance.apply.netlink import Netlink
from astara.appliance.apply.netns import entered, sysctl
from astara.appliance.apply.nft import Nft
from astara.appliance.observe.state import NetState
from astara.appliance.plan import netlink as plan
from astara.appliance.plan.ops import Op
from astara.appliance.render import dnsmasq as render_dnsmasq
from astara.appliance.render import nft as render_nft
from astara.wire.appliance_config import ApplianceConfig

LOG = logging.getLogger(__name__)
SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}


@dataclass
class Ports:
    netlink: Callable[[], Netlink]
    nft: Nft
    dnsmasq: Dnsmasq
    sysctl: Callable[[str, str], None] = sysctl


@dataclass
class Result:
    changed: bool
    ops: list[Op] = field(default_factory=list)
    dhcp: list[str] = field(default_factory=list)
    nft: str = "none"  # "none" | "full" | "delta"
    error: str | None = None
    rejected: bool = False  # the document does not fit this appliance; nothing changed


class Appliance:
    def __init__(self, name: str, netns: str | None, state_dir: Path, api_port: int,
                 ports: Ports) -> None:
        self.name, self.netns, self.state_dir = name, netns, state_dir
        self.api_port, self.ports = api_port, ports
        self.config: ApplianceConfig | None = None  # the last good (applied) document
        self.digest: str | None = None
        self.applies = 0
        self.last_error: str | None = None
        self._ruleset: render_nft.Ruleset | None = None

    def apply(self, config: ApplianceConfig) -> Result:
        digest = config.digest()
        if digest == self.digest and self.last_error is None:
            return Result(changed=False)
        with entered(self.netns):
            return self._apply(config, digest)

    def _apply(self, config: ApplianceConfig, digest: str) -> Result:
        netlink = self.ports.netlink()
        done: list[Op] = []
        result = Result(changed=True)
        try:
            observed = netlink.observe()
            ops = plan.diff(config, observed)
            for key, value in SYSCTLS.items():
                self.ports.sysctl(key, value)
            for op in ops:
                netlink.run(op)
                done.append(op)
            result.ops = done
            result.nft = self._load_nft(config, observed)
            result.dhcp = dhcp.sync(self.state_dir, self._dhcp_files(config, observed),
                                    self.ports.dnsmasq)
        except Exception as exc:
            LOG.warning("appliance %s: apply failed, rolling back: %s", self.name, exc)
            self.last_error = str(exc)
            self._rollback(netlink, done)
            netlink.close()
            result.error = self.last_error
            result.rejected = isinstance(exc, plan.PlanError)
            return result
        netlink.close()
        self.config, self.digest, self.last_error = config, digest, None
        self.applies += 1
        return result

    def _load_nft(self, config: ApplianceConfig, observed: NetState) -> str:
        names = plan.interface_names(config, observed)
        ruleset = render_nft.render(config, names, self.api_port)
        old = self._ruleset
        self._ruleset = None  # unknown until this load succeeds
        if old is not None and old.base == ruleset.base:
            delta = render_nft.fip_delta(old.floating, ruleset.floating)
            if delta:
                self.ports.nft.load_delta(delta)
            self._ruleset = ruleset
            return "delta" if delta else "none"
        self.ports.nft.load_full(ruleset.full())
        self._ruleset = ruleset
        return "full"

    def _dhcp_files(self, config: ApplianceConfig,
                    observed: NetState) -> list[render_dnsmasq.DnsmasqFiles]:
        names = plan.interface_names(config, observed)
        upstream = tuple(str(ip) for net in config.network("external")
                         for s in net.subnets for ip in s.dns_nameservers)
        return [
            render_dnsmasq.render(net, names[net.network_id], self.state_dir, upstream)
            for net in config.network("internal") if render_dnsmasq.served(net)
        ]

    def _rollback(self, netlink: Netlink, done: list[Op]) -> None:
        for op in reversed(done):
            try:
                netlink.run(op.inverse())
            except Exception as exc:  # keep undoing the rest
                LOG.error("appliance %s: rollback of %s failed: %s", self.name, op, exc)
        if self.config is None:
            return
        try:
            observed = netlink.observe()
            for op in plan.diff(self.config, observed):
                netlink.run(op)
            self._ruleset = None
            self._load_nft(self.config, observed)
            dhcp.sync(self.state_dir, self._dhcp_files(self.config, observed),
                      self.ports.dnsmasq)
        except Exception as exc:
            LOG.error("appliance %s: re-applying the last good config failed: %s",
                      self.name, exc)

    def teardown(self) -> None:
        """Stop this appliance's processes and remove its files (the namespace stays)."""
        with entered(self.netns):
            dhcp.stop_all(self.state_dir, self.ports.dnsmasq)
        for path in self.state_dir.glob("*"):
            path.unlink(missing_ok=True)
