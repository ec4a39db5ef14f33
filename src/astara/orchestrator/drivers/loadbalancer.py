"""The loadbalancer driver: a load balancer's model -> its appliance config document.

``build`` is pure. Input is the load-balancer API's model (``GET /v2/astara/
loadbalancers/{id}/model``: the public views of the load balancer and its listeners,
pools, members and health monitors, with the ``revision`` they were read at), the VIP
port, its subnet and network (network API, as admin) and the appliance's management
port; output is a validated ``ApplianceConfig`` with a ``loadbalancer`` section
(``wire.loadbalancer_config``). What the appliance cannot serve is left out and listed
by ``refusals`` (``drivers.loadbalancer_map``); the statuses written back are built by
``drivers.loadbalancer_status``. ``LoadBalancerDriver`` reads and writes through the
clients' Protocols.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from astara.orchestrator.clients.base import LoadBalancerAPI, NetworkAPI, RemoteError
from astara.orchestrator.drivers import loadbalancer_status as status
from astara.orchestrator.drivers.base import Management, Naming, Resource
from astara.orchestrator.drivers.loadbalancer_map import loadbalancer_section
from astara.orchestrator.keys import ResourceRef, is_uuid
from astara.orchestrator.reconcile.memory import RouterState
from astara.orchestrator.reconcile.model import Decision, Status, Step
from astara.wire.appliance_config import ApplianceConfig

LOG = logging.getLogger(__name__)
KIND = "loadbalancer"
# The instance's metadata records the failover count it was booted for: a failover
# (``PUT .../failover`` raises the count) replaces an appliance booted for less.
NAMING = Naming(KIND, "ak-lb-", "astara_loadbalancer_id", "astara_failover_count")


@dataclass(frozen=True)
class LoadBalancerModel:
    revision: int
    loadbalancer: dict
    listeners: list[dict]
    pools: list[dict]
    members: list[dict]
    healthmonitors: list[dict]
    vip_port: dict | None = None
    vip_subnet: dict | None = None
    vip_network: dict | None = None
    l7policies: list[dict] = field(default_factory=list)
    l7rules: list[dict] = field(default_factory=list)  # each with its "l7policy_id"
    failover_count: int = 0
    # {"ref", "pem"} of the TERMINATED_HTTPS listeners: private keys, never in a repr.
    certificates: list[dict] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, body: dict, vip_port: dict | None = None, vip_subnet: dict | None = None,
           vip_network: dict | None = None) -> LoadBalancerModel:
        """From the model endpoint's answer (and the VIP's records)."""
        return cls(int(body["revision"]), body["loadbalancer"],
                   *(list(body.get(k) or []) for k in (
                       "listeners", "pools", "members", "healthmonitors")),
                   vip_port=vip_port, vip_subnet=vip_subnet, vip_network=vip_network,
                   l7policies=list(body.get("l7policies") or []),
                   l7rules=list(body.get("l7rules") or []),
                   failover_count=int(body.get("failover_count") or 0),
                   certificates=list(body.get("certificates") or []))


def _vip_network(model: LoadBalancerModel) -> tuple[dict, str | None, str | None]:
    """The VIP's network section and the VIP subnet's IPv4 and IPv6 gateways."""
    port, subnet = model.vip_port, model.vip_subnet
    if port is None or subnet is None:
        raise ValueError("the VIP port or its subnet is gone")
    prefix = ipaddress.ip_network(subnet["cidr"], strict=False).prefixlen
    addresses = [f"{f['ip_address']}/{prefix}" for f in port.get("fixed_ips", [])
                 if f.get("subnet_id") == subnet["id"]]
    gateway = subnet.get("gateway_ip")
    v4 = gateway if gateway and ipaddress.ip_address(gateway).version == 4 else None
    v6 = gateway if gateway and ipaddress.ip_address(gateway).version == 6 else None
    mtu = int((model.vip_network or {}).get("mtu") or 1500)
    return {
        "network_id": port["network_id"],
        "network_type": "internal",
        "interface": {"mac_address": port["mac_address"], "addresses": addresses,
                      "mtu": mtu},
        # The subnet as it is; the appliance serves no DHCP or RA on it (its own router
        # does), and leases no address to anyone.
        "subnets": [{
            "cidr": subnet["cidr"],
            "gateway_ip": gateway,
            "dhcp_enabled": False,
            "dns_nameservers": list(subnet.get("dns_nameservers") or []),
            "host_routes": list(subnet.get("host_routes") or []),
        }],
    }, v4, v6


def build(model: LoadBalancerModel, mgmt: Management) -> ApplianceConfig:
    """The appliance's document (ValueError, pydantic's included, if none can be)."""
    lb = model.loadbalancer
    vip, v4_gw, v6_gw = _vip_network(model)
    section, _ = loadbalancer_section(model.loadbalancer, model.listeners, model.pools,
                                      model.members, model.healthmonitors, model.l7policies,
                                      model.l7rules, model.certificates)
    return ApplianceConfig.model_validate({
        "version": "1",
        "hostname": NAMING.name(lb["id"]),
        "tenant_id": lb.get("project_id") or lb.get("tenant_id") or "none",
        "networks": [{
            "network_id": "management",
            "network_type": "management",
            "interface": {"mac_address": mgmt.mac_address, "addresses": list(mgmt.addresses)},
        }, vip],
        "default_v4_gateway": v4_gw,
        "default_v6_gateway": v6_gw,
        "orchestrator": {"address": mgmt.orchestrator_address,
                         "metadata_port": mgmt.metadata_port},
        "loadbalancer": section,
    })


class LoadBalancerDriver:
    """Load balancers of ``astara-loadbalancer-api``; their VIPs on the network API."""

    kind = KIND
    naming = NAMING

    def __init__(self, network: NetworkAPI, loadbalancers: LoadBalancerAPI):
        self.network, self.lbs = network, loadbalancers

    def read(self, resource_id: str) -> Resource | None:
        body = self.lbs.model(resource_id)
        if body is None:
            return None
        lb = body["loadbalancer"]
        mgmt = self.network.management_port(resource_id, create=False)
        subnets: dict[str, dict] = {}
        mgmt_subnet = next((f.get("subnet_id") for f in (mgmt or {}).get("fixed_ips", [])),
                           None)
        if is_uuid(mgmt_subnet) and (sn := self.network.show("subnets", mgmt_subnet)):
            subnets[sn["id"]] = sn
        # Ids from the load-balancer service's own record, checked before they make a path.
        port = self.network.show("ports", lb["vip_port_id"]) \
            if is_uuid(lb.get("vip_port_id")) else None
        subnet = self.network.show("subnets", lb["vip_subnet_id"]) \
            if is_uuid(lb.get("vip_subnet_id")) else None
        network = self.network.show("networks", port["network_id"]) \
            if port is not None and is_uuid(port.get("network_id")) else None
        model = LoadBalancerModel.of(body, port, subnet, network)
        return Resource(model=model, mgmt_port=mgmt,
                        ports=(port,) if port is not None else (), subnets=subnets,
                        kept=model, generation=model.failover_count,
                        project_id=lb.get("project_id") or None)

    def resources(self) -> list[ResourceRef]:
        """Every load balancer, and every deleted one whose VIP port is still kept (its
        appliance perhaps still running: looking at it stops it, then releases it)."""
        found = self.lbs.loadbalancers()
        known = {ref.id for ref in found}
        try:
            kept = self.lbs.vip_ports()
        except RemoteError as exc:  # the load balancers are still worth looking at
            LOG.warning("cannot list the VIP ports of deleted load balancers: %s", exc)
            kept = []
        return found + [ref for ref in kept if ref.id not in known]

    def project_of(self, resource_id: str) -> str | None:
        return self.lbs.project_of(resource_id)

    def build(self, resource: Resource, mgmt: Management) -> ApplianceConfig:
        try:
            return build(resource.model, mgmt)
        except (KeyError, TypeError) as exc:  # a view without a field the contract names
            raise ValueError(f"malformed load balancer model: {exc!r}") from exc

    def report(self, ref: ResourceRef, st: RouterState, decision: Decision) -> None:
        model = st.context.kept
        if not isinstance(model, LoadBalancerModel):
            return  # resumed after a restart: the full look that follows has the model
        if decision.status is Status.ERROR:
            self._write(ref, st, status.statuses(model, None, status.ERROR))
            return
        report = st.report
        if decision.step not in (Step.ALIVE, Step.CONFIGURE_VM) or report is None \
                or report.config_digest is None \
                or report.config_digest != st.context.desired_digest:
            return  # the appliance does not hold this revision's document (yet)
        self._write(ref, st, status.statuses(model, report.loadbalancer, status.ACTIVE,
                                             st.context.instance_id))

    def refused(self, ref: ResourceRef, st: RouterState, decision: Decision,
                error: str) -> None:
        model = st.context.kept
        if decision.step is not Step.CONFIGURE_VM or not isinstance(model, LoadBalancerModel):
            return
        LOG.warning("loadbalancer %s: revision %d refused by its appliance: %s", ref.id,
                    model.revision, error)
        self._write(ref, st, status.statuses(model, None, status.ERROR))

    def gone(self, ref: ResourceRef) -> None:
        """The appliance is gone: nothing answers on the VIP address any more, so the
        service may delete the port (and its address be given again)."""
        self.lbs.release_vip_ports(ref.id)

    def _write(self, ref: ResourceRef, st: RouterState, body: dict) -> None:
        if body == st.reported:
            return
        self.lbs.write_statuses(ref.id, body)
        st.reported = body
        st.status = body["loadbalancer"].get("provisioning_status") or st.status
