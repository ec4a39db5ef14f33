"""Observe one resource: its model, appliance instance, appliance status -> ``Observed``.

The resource's driver (by the key's kind) reads its model and builds its document.
A full observation of a router costs three calls (router model, instance, appliance
status); a health check of a resource that was healthy costs one (appliance status),
and falls back to a full observation as soon as anything differs. A full look that
finds no instance also asks ``BootSpecs`` what a boot would use (BYONF) and whether the
compute API knows that image and flavor (``Observed.boot_problem``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from astara.orchestrator.byonf import BootSpecs
from astara.orchestrator.clients.base import ApplianceAPI, ComputeAPI, NetworkAPI
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.drivers.base import Driver, Management
from astara.orchestrator.drivers.router import HaMember, RouterDriver
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import Context, RouterState
from astara.orchestrator.reconcile.model import Instance, Observed

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManagementSettings:
    """From the ``[orchestrator]`` options (``orchestrator.opts.management_settings``)."""

    orchestrator_address: str
    metadata_port: int
    # Used only when the management subnet's record is missing from the router's model.
    management_prefix: str


def _mgmt_address(port: dict) -> str | None:
    ips = [f["ip_address"] for f in port.get("fixed_ips", [])]
    v6 = [ip for ip in ips if ipaddress.ip_address(ip).version == 6]
    return (v6 or ips or [None])[0]


def mgmt_interface_address(address: str, port: dict, subnets: dict[str, dict],
                           fallback_prefix: str) -> str:
    """``address/prefixlen``, the length from the subnet the port's address is on."""
    for fixed in port.get("fixed_ips", []):
        sn = subnets.get(fixed.get("subnet_id", ""))
        if fixed.get("ip_address") == address and sn is not None:
            return f"{address}/{ipaddress.ip_network(sn['cidr'], strict=False).prefixlen}"
    fallback = ipaddress.ip_network(fallback_prefix, strict=False)
    if fallback.version == ipaddress.ip_address(address).version:
        return f"{address}/{fallback.prefixlen}"
    return f"{address}/{64 if ':' in address else 24}"


class Observer:
    def __init__(self, network: NetworkAPI, compute: ComputeAPI, appliance: ApplianceAPI,
                 mgmt: ManagementSettings, drivers: Mapping[str, Driver] | None = None,
                 boot: BootSpecs | None = None):
        """``drivers`` by kind (``drivers.registry``); by default the router's alone.
        ``boot``: what a boot would use (BYONF) and whether it can; None: the compute
        client's defaults, unchecked."""
        self.network, self.compute, self.appliance = network, compute, appliance
        self.boot = boot
        self.mgmt = mgmt
        self.drivers = dict(drivers) if drivers is not None else {
            "router": RouterDriver(network)}

    def health(self, st: RouterState, now: float, debug: bool,
               booted: str | None = None) -> Observed | None:
        """One call: still healthy on the same config? None means 'look at everything'.
        ``booted``: the instance whose boot just ended, when ``boot_end.one_call`` let
        its pass be one call too (``_booted``)."""
        ctx = st.context
        digest = ctx.desired_digest
        if booted is not None:
            return self._booted(st, now, debug, booted)
        if st.force_rebuild:
            return None  # a rebuild is asked for (a split brain's): only a full pass plans it
        if not st.healthy or digest is None or ctx.mgmt_address is None \
                or ctx.instance_id is None:
            return None
        if ctx.desired is None:
            # Resumed from the store after a restart: the appliance's digest is checked
            # against the one remembered once; the next look reads the models again.
            if not st.resumed:
                return None
            st.resumed = False
        app = self.appliance.status(ctx.mgmt_address, ctx.instance_id)
        st.report = app.report
        if not app.reachable or not app.healthy or app.config_digest != digest:
            return None
        ports = frozenset(ctx.wanted_ports)
        return Observed(exists=True, desired_digest=digest, wanted_ports=ports,
                        instance=Instance(ctx.instance_id, "ACTIVE", ports),
                        appliance=app, debug=debug, memory=st.memory, now=now)

    def _booted(self, st: RouterState, now: float, debug: bool,
                instance_id: str) -> Observed | None:
        """The appliance whose boot just ended (``instance_id``, ACTIVE by its compute
        service's word): its status (one call) on what the last full look saw, which
        ``boot_end.one_call`` found complete (else None: look at everything). An
        appliance not answering yet is waited for as a full look would (``CheckBoot``),
        without asking it twice."""
        ctx = st.context
        if ctx.mgmt_address is None or ctx.desired_digest is None:
            return None
        app = self.appliance.status(ctx.mgmt_address, instance_id)
        st.report = app.report
        ports = frozenset(ctx.wanted_ports)
        return Observed(exists=True, desired_digest=ctx.desired_digest, wanted_ports=ports,
                        instance=Instance(instance_id, "ACTIVE", ports,
                                          generation=ctx.generation, host_id=ctx.host_id),
                        appliance=app, debug=debug, memory=st.memory, now=now)

    def full(self, ref: ResourceRef, st: RouterState, now: float, debug: bool) -> Observed:
        st.resumed = False
        driver = self.drivers[ref.kind]
        res = driver.read(ref.id)
        who = driver.naming.identity(ref.id, res.generation if res is not None else 0)
        if res is None:
            inst = self.compute.find(who, {})
            st.context = Context(instance_id=inst.id if inst else None)
            return Observed(exists=False, instance=inst, debug=debug, memory=st.memory, now=now)
        mgmt_port = res.mgmt_port
        plugged = ([mgmt_port] if mgmt_port is not None else []) + list(res.ports)
        macs = {p["mac_address"]: p["id"] for p in plugged}
        inst = self.compute.find(who, macs)
        desired = None
        address = _mgmt_address(mgmt_port) if mgmt_port else None
        last = st.context
        if res.fingerprint is not None and res.fingerprint == last.model_fingerprint \
                and last.desired is not None:
            desired = last.desired  # the same model as last time: the same document
        elif mgmt_port is not None and address is not None:
            mgmt = Management(
                mgmt_port["mac_address"],
                (mgmt_interface_address(address, mgmt_port, res.subnets,
                                        self.mgmt.management_prefix),),
                self.mgmt.orchestrator_address, self.mgmt.metadata_port)
            try:
                desired = driver.build(res, mgmt)
            except ValueError as exc:  # pydantic's ValidationError is one
                LOG.warning("%s %s: cannot build its appliance config: %s", ref.kind, ref.id,
                            exc)
        wanted = tuple(sorted(p["id"] for p in plugged))
        spec, boot_problem = None, None
        if res.refused is not None:
            boot_problem = res.refused  # none can succeed: ERROR, nothing made
        elif inst is None and res.admin_up and self.boot is not None:
            # Only when a boot may follow: one list call (with BYONF) and the image and
            # flavor looked up (once each, unless unknown).
            spec, boot_problem = self.boot.resolve(ref.kind, res.project_id)
            if boot_problem is not None:
                LOG.error("%s %s: cannot boot its appliance: %s", ref.kind, ref.id,
                          boot_problem)
        if desired is last.desired and desired is not None:
            desired_digest = last.desired_digest
        else:
            desired_digest = desired.digest() if desired is not None else None
        st.context = Context(
            desired=desired, desired_digest=desired_digest,
            model_fingerprint=res.fingerprint if desired is not None else None,
            mgmt_address=address,
            mgmt_port_id=mgmt_port["id"] if mgmt_port else None, wanted_ports=wanted,
            instance_id=inst.id if inst else None,
            attached_ports=inst.ports if inst else frozenset(),
            extra_instances=inst.extras if inst else frozenset(),
            floating_ips=res.floating_ips,
            activate=res.activate if desired is not None else (),
            # Kept too when no boot can succeed: its driver reports the ERROR with it.
            kept=res.kept if desired is not None or boot_problem is not None else None,
            generation=res.generation, boot=spec, host_id=inst.host_id if inst else None,
            # from this look (not the last pass's): member 0 of a router HA from its
            # creation boots into the pair's group too
            pair_group=router_ha.group_name(res.kept.router_id)
            if isinstance(res.kept, HaMember) else None)
        app = None
        # A report is what this pass read: an old one (a member since gone to ERROR,
        # SHUTOFF or a rebuild) must not be judged as its role now.
        st.report = None
        if inst is not None and inst.status == "ACTIVE" and address is not None:
            app = self.appliance.status(address, inst.id)
            st.report = app.report
            if not app.reachable and st.memory.boot_started is None:
                # A working appliance did not answer: ask it another way before the
                # plan may decide to replace it (one more call, on failures only).
                app = replace(app, answers_probe=self.appliance.probe(address, inst.id))
        # Without a management port nothing can be booted yet: CreateVM makes one.
        digest = desired_digest if desired is not None else ("pending" if mgmt_port is None
                                                             else None)
        return Observed(
            exists=True, admin_up=res.admin_up,
            desired_digest=digest, wanted_ports=frozenset(wanted), instance=inst,
            appliance=app, debug=debug, force_rebuild=st.force_rebuild,
            split_brain=st.force_rebuild and st.split_brain_rebuild,
            outdated=inst is not None and inst.generation < res.generation, memory=st.memory,
            now=now, boot_problem=boot_problem)
