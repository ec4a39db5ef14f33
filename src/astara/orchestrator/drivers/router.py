"""The router driver: a router's Neutron model -> its appliance config document.

``build`` is pure. Input is the Neutron API's own JSON (router, its ports, their subnets and
networks, floating IPs, the tenant ports to lease addresses to) plus the
appliance's management port; output is a validated ``ApplianceConfig``. Ports of
one network are merged onto one interface (Neutron gives a dual-stack network an
IPv4 port and an IPv6 port).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from astara.common.device_owners import GATEWAY, INTERFACE, MGMT_OWNER
from astara.orchestrator.clients.base import NetworkAPI
from astara.orchestrator.clients.router_model import RouterModel
from astara.orchestrator.drivers import port_status, router_ha
from astara.orchestrator.drivers.base import Management, Naming, Resource
from astara.orchestrator.drivers.port_status import served_addresses
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import RouterState
from astara.orchestrator.reconcile.model import Decision, Step
from astara.wire.appliance_config import ApplianceConfig

__all__ = ["NAMING", "Management", "RouterDriver", "RouterModel", "build", "hostname"]

LOG = logging.getLogger(__name__)
# As the orchestrator always named them: appliances booted before drivers were are adopted.
NAMING = Naming("router", "ak-", "astara_router_id")


def hostname(router_id: str) -> str:
    return NAMING.name(router_id)


def _addresses(ports: list[dict], subnets: dict[str, dict]) -> list[str]:
    out = []
    for port in ports:
        for fixed in port.get("fixed_ips", []):
            sn = subnets.get(fixed["subnet_id"])
            if sn is not None:
                out.append(f"{fixed['ip_address']}/{ipaddress.ip_network(sn['cidr']).prefixlen}")
    return out


def _subnet(sn: dict) -> dict:
    return {
        "cidr": sn["cidr"],
        "gateway_ip": sn.get("gateway_ip"),
        "dhcp_enabled": bool(sn.get("enable_dhcp", True)),
        "dns_nameservers": list(sn.get("dns_nameservers") or []),
        "host_routes": list(sn.get("host_routes") or []),
        "ipv6_ra_mode": sn.get("ipv6_ra_mode"),
        "ipv6_address_mode": sn.get("ipv6_address_mode"),
    }


def _allocations(network_id: str, model: RouterModel, subnet_ids: set[str]) -> list[dict]:
    out = []
    for port in sorted(model.tenant_ports, key=lambda p: p["id"]):
        if port.get("network_id") != network_id:
            continue
        ips = served_addresses(port, subnet_ids)
        if not ips:
            continue
        first = ips[0].replace(".", "-").replace(":", "-")
        out.append({"mac_address": port["mac_address"], "ip_addresses": ips,
                    "hostname": f"host-{first}"})
    return out


def _network(kind: str, network_id: str, ports: list[dict], model: RouterModel) -> dict:
    ports = sorted(ports, key=lambda p: p["id"])
    subnet_ids = sorted({f["subnet_id"] for p in ports for f in p.get("fixed_ips", [])
                         if f["subnet_id"] in model.subnets})
    net = model.networks.get(network_id, {})
    doc = {
        "network_id": network_id,
        "network_type": kind,
        "interface": {"mac_address": ports[0]["mac_address"],
                      "addresses": _addresses(ports, model.subnets),
                      "mtu": int(net.get("mtu") or 1500)},
        "subnets": [_subnet(model.subnets[s]) for s in subnet_ids],
    }
    if kind == "internal":
        doc["allocations"] = _allocations(network_id, model, set(subnet_ids))
    return doc


def build(model: RouterModel, mgmt: Management) -> ApplianceConfig:
    router = model.router
    by_network: dict[str, list[dict]] = {}
    gateway_ports = []
    for port in model.ports:
        if port.get("device_owner") == GATEWAY:
            gateway_ports.append(port)
        elif port.get("device_owner") == INTERFACE:
            by_network.setdefault(port["network_id"], []).append(port)
    networks = [{
        "network_id": "management",
        "network_type": "management",
        "interface": {"mac_address": mgmt.mac_address, "addresses": list(mgmt.addresses)},
    }]
    v4_gw = v6_gw = None
    if gateway_ports:
        ext = _network("external", gateway_ports[0]["network_id"], gateway_ports, model)
        networks.append(ext)
        for sn in ext["subnets"]:
            gw = sn.get("gateway_ip")
            if gw and ipaddress.ip_address(gw).version == 4:
                v4_gw = v4_gw or gw
            elif gw:
                v6_gw = v6_gw or gw
    for network_id in sorted(by_network):
        networks.append(_network("internal", network_id, by_network[network_id], model))
    fips = []
    if gateway_ports:
        for fip in sorted(model.floating_ips, key=lambda f: f["floating_ip_address"]):
            if fip.get("router_id") == router["id"] and fip.get("fixed_ip_address"):
                fips.append({"floating_ip": fip["floating_ip_address"],
                             "fixed_ip": fip["fixed_ip_address"]})
    return ApplianceConfig.model_validate({
        "version": "1",
        "hostname": hostname(router["id"]),
        "tenant_id": router.get("project_id") or router.get("tenant_id") or "none",
        "networks": networks,
        "default_v4_gateway": v4_gw,
        "default_v6_gateway": v6_gw,
        "routes": [dict(r) for r in router.get("routes") or []],
        "floating_ips": fips,
        "enable_snat": (router.get("external_gateway_info") or {}).get("enable_snat", True),
        "orchestrator": {"address": mgmt.orchestrator_address,
                         "metadata_port": mgmt.metadata_port},
    })


@dataclass(frozen=True)
class HaMember:
    """What an HA router's member keeps with its document (``Resource.kept``)."""

    router_id: str
    member: int
    peers: tuple[str, ...]  # the other member's management address; () none yet
    macs: dict[str, str] | None  # member 1's MAC by network id; None: member 0


def _mgmt_ip(port: dict | None) -> str | None:
    ips = [f["ip_address"] for f in (port or {}).get("fixed_ips", [])]
    v6 = [ip for ip in ips if ipaddress.ip_address(ip).version == 6]
    return (v6 or ips or [None])[0]


def _routed_networks(model: RouterModel) -> list[str]:
    return sorted({p["network_id"] for p in model.ports
                   if p.get("device_owner") in (GATEWAY, INTERFACE)})


class RouterDriver:
    """Routers on the network API (ours or a real Neutron's); an ``ha=True`` router's
    second appliance is read under its member key (``router_ha``)."""

    kind = "router"
    naming = NAMING

    def __init__(self, network: NetworkAPI):
        self.network = network

    def read(self, resource_id: str) -> Resource | None:
        router_id, member = router_ha.split(resource_id)
        model = self.network.router_model(router_id)
        if model is None:
            return None
        if model.refused is not None:
            return None if member else Resource(
                model=model, mgmt_port=None, ports=(), subnets={}, refused=model.refused,
                project_id=model.router.get("project_id"))
        ha = bool(model.router.get("ha"))
        if member == 1 and not ha:
            return None  # HA turned off: the second member goes (its ports with it)
        mgmt = next((p for p in model.ports if p.get("device_owner") == MGMT_OWNER), None)
        ports = tuple(p for p in model.ports if p.get("device_owner") != MGMT_OWNER)
        kept, fingerprint = None, model.fingerprint
        if ha:
            peer = mgmt
            if member == 1:
                mgmt = self.network.management_port(resource_id, create=False)
                ports = self._member_ports(resource_id, model)
            else:
                peer = self.network.management_port(router_ha.member_id(router_id),
                                                    create=False)
            peer_ip = _mgmt_ip(peer)
            macs = {p["network_id"]: p["mac_address"] for p in ports} if member else None
            kept = HaMember(router_id, member, (peer_ip,) if peer_ip else (), macs)
            if fingerprint is not None:  # the peer's address and our MACs are in it too
                fingerprint = f"{fingerprint}:{peer_ip}:{sorted((macs or {}).items())}"
        return Resource(
            model=model, mgmt_port=mgmt, ports=ports,
            subnets=model.subnets, admin_up=bool(model.router.get("admin_state_up", True)),
            fingerprint=fingerprint,
            floating_ips=frozenset(f["floating_ip_address"] for f in model.floating_ips),
            activate=port_status.to_activate(model) if member == 0 else (), kept=kept,
            project_id=model.router.get("project_id") or model.router.get("tenant_id"))

    def _member_ports(self, member: str, model: RouterModel) -> tuple[dict, ...]:
        """Member 1's port on each network the router is on, made when missing (before
        the look that plugs them: an unplugged port costs nothing); one on a network
        the router left goes (its interface is unplugged by then, or with the port)."""
        have = {p["network_id"]: p for p in self.network.ha_ports(member)}
        wanted = _routed_networks(model)
        for network_id in wanted:
            if network_id not in have:
                have[network_id] = self.network.create_ha_port(member, network_id)
                LOG.info("router %s: HA port %s on network %s", member,
                         have[network_id]["id"], network_id)
        for network_id in sorted(set(have) - set(wanted)):
            self.network.delete_port(have.pop(network_id)["id"])
        return tuple(have[n] for n in wanted)

    def resources(self) -> list[ResourceRef]:
        return self.network.routers()

    def project_of(self, resource_id: str) -> str | None:
        return self.network.router_project(resource_id)

    def build(self, resource: Resource, mgmt: Management) -> ApplianceConfig:
        doc = build(resource.model, mgmt)
        ha = resource.kept
        if not isinstance(ha, HaMember):
            return doc
        if not ha.peers:
            if ha.member == 1:  # never without its peer: it would hold the addresses too
                raise ValueError("HA member 1: its peer has no management address yet")
            return doc  # member 0 alone until member 1's port exists: a single router
        return router_ha.member_document(doc, ha.router_id, ha.member, ha.peers, ha.macs)

    def report(self, ref: ResourceRef, st: RouterState, decision: Decision) -> None:
        if isinstance(st.context.kept, HaMember) or router_ha.split(ref.id)[1]:
            # A pair's status is the two members' (``report_pair``); the ports it serves
            # are reported by member 0.
            if router_ha.split(ref.id)[1] == 0 and decision.step in (Step.CONFIGURE_VM,
                                                                     Step.ALIVE):
                self._activate_ports(ref, st)
            return
        status = decision.status.neutron
        # A reconfigure or replug of a working router (BUILD) keeps ACTIVE: it forwards.
        if status != st.status and not (st.status == "ACTIVE" and status == "BUILD"):
            self.network.set_router_status(ref.id, status)
            st.status = status
        if decision.step in (Step.CONFIGURE_VM, Step.ALIVE):
            self._activate_ports(ref, st)

    def refused(self, ref: ResourceRef, st: RouterState, decision: Decision,
                error: str) -> None:
        return None  # the router's status says BUILD until a push is taken

    def gone(self, ref: ResourceRef) -> None:
        # A router's ports go with it (the network API deletes them); member 1's are ours.
        if router_ha.split(ref.id)[1]:
            for port in self.network.ha_ports(ref.id):
                self.network.delete_port(port["id"])

    def report_pair(self, ref: ResourceRef, st: RouterState, state: str,
                    fallback: str) -> None:
        """The router's status from its pair (``router_ha.pair_view``): ACTIVE while a
        member forwards, else what member 0's step says (``fallback``: BUILD, DOWN...)."""
        status = "ACTIVE" if state in ("ACTIVE", "DEGRADED") else fallback
        if status != st.status and not (st.status == "ACTIVE" and status == "BUILD"):
            self.network.set_router_status(ref.id, status)
            st.status = status

    def _activate_ports(self, ref: ResourceRef, st: RouterState) -> None:
        # The appliance holds the document (pushed now, or reported): the tenant ports it
        # leases to are provisioned. One call per port, once: a failure is retried by the
        # next full look (the model still shows the port DOWN). A real Neutron keeps
        # port status itself: its ports stay DOWN, are offered again each look, and are
        # not logged as ACTIVE.
        while st.context.activate:
            port_id = st.context.activate[0]
            written = self.network.set_port_status(port_id, "ACTIVE")
            st.context.activate = st.context.activate[1:]
            if written:
                LOG.info("router %s: port %s ACTIVE", ref.id, port_id)
