"""The appliance config document: what the orchestrator wants one appliance to be.

A router appliance, or, when the document has a `loadbalancer` section, a load
balancer appliance: then it forwards nothing between its networks, serves no DHCP or
router advertisements, and answers only the listeners on its VIP (an address of one of
its non-management networks); its default gateway reaches members on other subnets.

Built by the orchestrator's router driver, sent with `PUT /v1/system/config/`, and
read by the appliance agent, which converges its namespace (or VM) to it. The
document is versioned (`version`); an agent rejects a version it does not know.
Models are strict (unknown fields are errors) so a typo never silently does nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import struct
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from astara.wire.loadbalancer_config import LoadBalancer, unique

CONFIG_VERSION = "1"
SUPPORTED_VERSIONS = (CONFIG_VERSION,)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
MacAddress = Annotated[str, Field(pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")]
Name = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Ipv6Mode = Literal["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]


class _Model(BaseModel):
    # Errors never quote their input: a document may carry private keys (the
    # `loadbalancer` section's certificates), and a log line must not.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class HostRoute(_Model):
    destination: IPNetwork
    nexthop: IPAddress


class Subnet(_Model):
    cidr: IPNetwork
    gateway_ip: IPAddress | None = None
    dhcp_enabled: bool = True
    dns_nameservers: tuple[IPAddress, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    ipv6_ra_mode: Ipv6Mode | None = None
    ipv6_address_mode: Ipv6Mode | None = None

    @model_validator(mode="after")
    def _check(self) -> Subnet:
        if self.gateway_ip is not None and self.gateway_ip not in self.cidr:
            raise ValueError(f"gateway_ip {self.gateway_ip} is outside {self.cidr}")
        if self.cidr.version == 4 and (self.ipv6_ra_mode or self.ipv6_address_mode):
            raise ValueError(f"IPv6 modes set on IPv4 subnet {self.cidr}")
        return self


class Interface(_Model):
    mac_address: MacAddress
    addresses: tuple[IPInterface, ...] = ()
    mtu: int = Field(default=1500, ge=1280, le=9216)

    @field_validator("mac_address", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Allocation(_Model):
    """A fixed IP lease: the DHCP server answers this MAC with these addresses."""

    mac_address: MacAddress
    ip_addresses: tuple[IPAddress, ...] = Field(min_length=1)
    hostname: Name | None = None

    @field_validator("mac_address", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Network(_Model):
    network_id: Name
    network_type: Literal["management", "external", "internal"]
    interface: Interface
    subnets: tuple[Subnet, ...] = ()
    allocations: tuple[Allocation, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Network:
        for alloc in self.allocations:
            for ip in alloc.ip_addresses:
                if not any(ip in s.cidr for s in self.subnets):
                    raise ValueError(f"allocation {ip} is in no subnet of {self.network_id}")
        return self


class Route(_Model):
    destination: IPNetwork
    nexthop: IPAddress


class FloatingIP(_Model):
    floating_ip: ipaddress.IPv4Address
    fixed_ip: ipaddress.IPv4Address


class Orchestrator(_Model):
    address: IPAddress
    metadata_port: int = Field(default=9697, ge=1, le=65535)


class HighAvailability(_Model):
    """This appliance as one member of a VRRP pair (docs/ha.md).

    Both members get the same document but for `priority`, `peers` and their own
    management interface (MAC, address). The heartbeat (VRRP adverts and conntrackd's
    sync) runs over the management network, unicast to `peers`: the other member's
    management address(es), one address family. When enabled, every address of the
    external and internal interfaces and every floating IP is virtual: held by the
    master only (keepalived adds and removes it), as are the default gateways and
    the extra routes.
    """

    enabled: bool = False
    peers: tuple[IPAddress, ...] = Field(default=(), max_length=4)
    priority: int = Field(default=100, ge=1, le=254)
    # VRRP's virtual router id, one per router (both members carry the same).
    virtual_router_id: int = Field(default=1, ge=1, le=255)
    # VRRPv3 advert interval in centiseconds: the backup takes over after about
    # three missed adverts.
    advert_interval_cs: int = Field(default=20, ge=1, le=4095)
    # A member that (re)joins stays backup even with a higher priority.
    nopreempt: bool = True
    # conntrackd (FTFW) keeps the backup's connection table in sync.
    conntrack_sync: bool = True

    @model_validator(mode="after")
    def _check(self) -> HighAvailability:
        if self.enabled and not self.peers:
            raise ValueError("ha.enabled needs the peer's address in ha.peers")
        if len({p.version for p in self.peers}) > 1:
            raise ValueError("ha.peers must be of one address family")
        unique("ha peer", list(self.peers))
        return self


class ApplianceConfig(_Model):
    """The whole desired state of one router appliance."""

    version: Literal["1"] = CONFIG_VERSION
    hostname: Name
    tenant_id: Name
    networks: tuple[Network, ...] = Field(min_length=1)
    default_v4_gateway: ipaddress.IPv4Address | None = None
    default_v6_gateway: ipaddress.IPv6Address | None = None
    routes: tuple[Route, ...] = ()
    floating_ips: tuple[FloatingIP, ...] = ()
    # Source NAT of the internal subnets to the external address (Neutron's
    # enable_snat); floating IPs are translated 1:1 either way.
    enable_snat: bool = True
    orchestrator: Orchestrator
    ha: HighAvailability = HighAvailability()
    loadbalancer: LoadBalancer | None = None

    @field_validator("floating_ips", mode="wrap")
    @classmethod
    def _floating_ips(cls, value: object, handler: ValidatorFunctionWrapHandler) -> object:
        """A router may carry thousands of floating IPs: when each one is exactly
        {"floating_ip": str, "fixed_ip": str}, build them directly (several times
        faster); anything else, or any error, takes pydantic's path, which explains
        the errors field by field."""
        if isinstance(value, list):
            try:
                return tuple(_floating_ip(item) for item in value)
            except (TypeError, ValueError, KeyError, OSError):
                pass
        return handler(value)

    @model_validator(mode="after")
    def _check(self) -> ApplianceConfig:
        kinds = [n.network_type for n in self.networks]
        if kinds.count("management") != 1:
            raise ValueError("exactly one management network is required")
        if kinds.count("external") > 1:
            raise ValueError("at most one external network is allowed")
        unique("network_id", [n.network_id for n in self.networks])
        unique("interface mac_address", [n.interface.mac_address for n in self.networks])
        unique("floating_ip", [f.floating_ip for f in self.floating_ips])
        unique("fixed_ip of a floating IP", [f.fixed_ip for f in self.floating_ips])
        if self.floating_ips and "external" not in kinds:
            raise ValueError("floating IPs need an external network")
        if self.loadbalancer is not None:
            self._check_loadbalancer(self.loadbalancer)
        if self.ha.enabled:
            self._check_ha(self.ha)
        return self

    def _check_ha(self, ha: HighAvailability) -> None:
        if self.loadbalancer is not None:
            raise ValueError("ha is not yet supported on a load balancer appliance")
        family = ha.peers[0].version
        own = [a.ip for n in self.network("management") for a in n.interface.addresses]
        if not any(a.version == family for a in own):
            raise ValueError(f"ha needs an IPv{family} management address to send from")
        if set(ha.peers) & set(own):
            raise ValueError("ha.peers must not name this appliance's own address")

    def _check_loadbalancer(self, lb: LoadBalancer) -> None:
        if self.floating_ips:
            raise ValueError("a load balancer appliance holds no floating IPs "
                             "(associate the floating IP with the VIP port)")
        held = [a.ip for n in self.networks if n.network_type != "management"
                for a in n.interface.addresses]
        if lb.vip_address not in held:
            raise ValueError(f"vip_address {lb.vip_address} is no address of a "
                             "non-management network")

    def network(self, kind: str) -> tuple[Network, ...]:
        return tuple(n for n in self.networks if n.network_type == kind)

    def digest(self) -> str:
        """A stable hash of the document: equal documents have equal digests.

        The floating IPs are hashed as packed integers, apart from the rest (JSON):
        serialising thousands of addresses would dominate a one-floating-IP change.
        """
        h = hashlib.sha256(self.model_dump_json(exclude={"floating_ips"}).encode())
        h.update(struct.pack(f"={2 * len(self.floating_ips)}I",
                             *(int(a) for f in self.floating_ips
                               for a in (f.floating_ip, f.fixed_ip))))
        return h.hexdigest()

    def floating_ip_pairs(self) -> frozenset[tuple[int, int]]:
        """{(floating, fixed)} as integers: cheap to build, hash and compare."""
        return frozenset((int(f.floating_ip), int(f.fixed_ip)) for f in self.floating_ips)

    def same_except_floating_ips(self, other: ApplianceConfig) -> bool:
        return all(getattr(self, name) == getattr(other, name)
                   for name in type(self).model_fields if name != "floating_ips")


_FLOATING_IP_KEYS = {"floating_ip", "fixed_ip"}


def _floating_ip(item: object) -> FloatingIP:
    if type(item) is not dict or item.keys() != _FLOATING_IP_KEYS:
        raise TypeError("not a plain floating IP object")
    floating, fixed = item["floating_ip"], item["fixed_ip"]
    if type(floating) is not str or type(fixed) is not str:
        raise TypeError("not strings")
    # inet_pton accepts exactly the dotted quads IPv4Address does, ~10x faster
    return FloatingIP.model_construct(
        floating_ip=ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, floating)),
        fixed_ip=ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, fixed)))

