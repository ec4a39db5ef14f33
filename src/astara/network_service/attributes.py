"""The attribute map of each resource and the request-body checks Neutron makes.

For every resource: which attributes a POST or PUT may carry, how each is
validated, its default, and whether only an admin may set or see it. The
functions here turn a request body into clean values or raise the
``HTTPBadRequest`` Neutron would (unrecognized attribute, not allowed in POST/PUT,
invalid value); they read no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from astara.network_service import validators as v
from astara.network_service.context import RequestContext
from astara.network_service.errors import PolicyNotAuthorized, bad_attr, invalid_input

_UNSET = object()


@dataclass(frozen=True)
class Attr:
    validate: v.Validator | None = None
    post: bool = True
    put: bool = True
    default: Any = _UNSET
    admin_set: bool = False  # only an admin may set it
    admin_see: bool = False  # only an admin sees it
    filter_key: str | None = None  # column name, when filtered in SQL


@dataclass(frozen=True)
class Resource:
    name: str
    plural: str
    attrs: dict[str, Attr] = field(default_factory=dict)


# Admins (the orchestrator, the compute agent) report observed status back.
_STATUS = v.one_of("ACTIVE", "BUILD", "DOWN", "ERROR")
_FIXED_IP = v.dict_of({"subnet_id": (v.uuid_str, False), "ip_address": (v.ip_address, False)})
_POOL = v.dict_of({"start": (v.ip_address, True), "end": (v.ip_address, True)})
_ROUTE = v.dict_of({"destination": (v.cidr, True), "nexthop": (v.ip_address, True)})
_PAIR = v.dict_of({"ip_address": (v.ip_or_cidr, True), "mac_address": (v.mac_address, False)})
_EXT_FIXED = v.dict_of({"subnet_id": (v.uuid_str, False), "ip_address": (v.ip_address, False)})
_GW_DICT = v.dict_of(
    {
        "network_id": (v.uuid_str, True),
        "enable_snat": (v.boolean, False),
        "external_fixed_ips": (v.list_of(_EXT_FIXED), False),
    }
)


def _gw_info(attr: str, value: Any) -> dict | None:
    # None or {} clears the gateway, as in Neutron.
    return None if value is None or value == {} else _GW_DICT(attr, value)



def _common(project: bool = True) -> dict[str, Attr]:
    attrs = {
        # As Neutron: the service picks ids, a client never does (a chosen id is a probe).
        "id": Attr(v.uuid_str, post=False, put=False, filter_key="id"),
        "name": Attr(v.string(255), default="", filter_key="name"),
        "description": Attr(v.string(255), default="", filter_key="description"),
        "tags": Attr(post=False, put=False),
        "created_at": Attr(post=False, put=False),
        "updated_at": Attr(post=False, put=False),
        "revision_number": Attr(post=False, put=False, filter_key="revision_number"),
    }
    if project:
        attrs["project_id"] = Attr(v.string(255), put=False, filter_key="project_id")
        attrs["tenant_id"] = Attr(v.string(255), put=False, filter_key="project_id")
    return attrs


NETWORK = Resource("network", "networks", {
    **_common(),
    "admin_state_up": Attr(v.boolean, default=True, filter_key="admin_state_up"),
    "status": Attr(post=False, put=False, filter_key="status"),
    "subnets": Attr(post=False, put=False),
    "shared": Attr(v.boolean, default=False, admin_set=True, filter_key="shared"),
    "router:external": Attr(v.boolean, default=False, admin_set=True, filter_key="external"),
    "is_default": Attr(v.boolean, default=False, admin_set=True),
    "mtu": Attr(v.integer(68, 65535), filter_key="mtu"),
    "port_security_enabled": Attr(v.boolean, default=True),
    "availability_zone_hints": Attr(v.list_of(v.string(255)), default=[], put=False),
    "availability_zones": Attr(post=False, put=False),
    "ipv4_address_scope": Attr(post=False, put=False),
    "ipv6_address_scope": Attr(post=False, put=False),
    "provider:network_type": Attr(
        v.one_of("flat", "vlan", "vxlan", "geneve", "local"), put=False, admin_set=True,
        admin_see=True, filter_key="network_type"),
    "provider:physical_network": Attr(
        v.nullable(v.string(64)), put=False, admin_set=True, admin_see=True,
        filter_key="physical_network"),
    "provider:segmentation_id": Attr(
        v.nullable(v.integer(1, 16777215)), put=False, admin_set=True, admin_see=True,
        filter_key="segmentation_id"),
})

SUBNET = Resource("subnet", "subnets", {
    **_common(),
    "network_id": Attr(v.uuid_str, put=False, filter_key="network_id"),
    "ip_version": Attr(v.int_in(4, 6), put=False, filter_key="ip_version"),
    "cidr": Attr(v.subnet_cidr, put=False, filter_key="cidr"),
    "gateway_ip": Attr(v.ip_or_none, filter_key="gateway_ip"),
    "allocation_pools": Attr(v.list_of(_POOL)),
    "dns_nameservers": Attr(v.list_of(v.ip_address, unique=True), default=[]),
    "host_routes": Attr(v.list_of(_ROUTE, unique=True), default=[]),
    "enable_dhcp": Attr(v.boolean, default=True, filter_key="enable_dhcp"),
    "ipv6_ra_mode": Attr(v.IPV6_MODES, default=None, put=False, filter_key="ipv6_ra_mode"),
    "ipv6_address_mode": Attr(v.IPV6_MODES, default=None, put=False,
                              filter_key="ipv6_address_mode"),
    "subnetpool_id": Attr(v.nullable(v.uuid_str), default=None, put=False),
    "service_types": Attr(v.list_of(v.string(255)), default=[]),
    "router:external": Attr(post=False, put=False),
})

PORT = Resource("port", "ports", {
    **_common(),
    "network_id": Attr(v.uuid_str, put=False, filter_key="network_id"),
    "admin_state_up": Attr(v.boolean, default=True, filter_key="admin_state_up"),
    "mac_address": Attr(v.mac_address, admin_set=False, filter_key="mac_address"),
    "fixed_ips": Attr(v.list_of(_FIXED_IP)),
    "device_id": Attr(v.string(255), default="", filter_key="device_id"),
    "device_owner": Attr(v.string(255), default="", filter_key="device_owner"),
    "status": Attr(_STATUS, post=False, admin_set=True, filter_key="status"),
    "allowed_address_pairs": Attr(v.list_of(_PAIR), default=[]),
    "port_security_enabled": Attr(v.boolean, default=True),
    "security_groups": Attr(v.list_of(v.uuid_str), default=[]),
    "extra_dhcp_opts": Attr(post=False, put=False),
    "binding:vnic_type": Attr(v.one_of("normal"), default="normal"),
    "binding:host_id": Attr(v.string(255), default="", admin_set=True, admin_see=True,
                            filter_key="binding_host_id"),
    "binding:profile": Attr(post=False, put=False, admin_see=True),
    "binding:vif_type": Attr(post=False, put=False, admin_see=True),
    "binding:vif_details": Attr(post=False, put=False, admin_see=True),
})

ROUTER = Resource("router", "routers", {
    **_common(),
    "admin_state_up": Attr(v.boolean, default=True, filter_key="admin_state_up"),
    "status": Attr(_STATUS, post=False, admin_set=True, filter_key="status"),
    "external_gateway_info": Attr(_gw_info, default=None),
    "routes": Attr(v.list_of(_ROUTE, unique=True), post=False),
    "ha": Attr(v.boolean, default=False, admin_set=True, admin_see=True, filter_key="ha"),
    "distributed": Attr(v.one_of(False), default=False, admin_set=True, admin_see=True),
    "flavor_id": Attr(v.nullable(v.uuid_str), default=None, put=False),
    "availability_zone_hints": Attr(v.list_of(v.string(255)), default=[], put=False),
    "availability_zones": Attr(post=False, put=False),
})

FLOATINGIP = Resource("floatingip", "floatingips", {
    **_common(),
    "floating_ip_address": Attr(v.ip_address, put=False, filter_key="floating_ip_address"),
    "floating_network_id": Attr(v.uuid_str, put=False, filter_key="floating_network_id"),
    "subnet_id": Attr(v.uuid_str, put=False),
    "router_id": Attr(post=False, put=False, filter_key="router_id"),
    "port_id": Attr(v.uuid_or_none, default=None, filter_key="fixed_port_id"),
    "fixed_ip_address": Attr(v.ip_or_none, default=None, filter_key="fixed_ip_address"),
    "status": Attr(post=False, put=False, filter_key="status"),
    "port_details": Attr(post=False, put=False),
})
del FLOATINGIP.attrs["name"]

def _flavor_id(attr: str, value: Any) -> str | None:
    # A flavor is named by a non-empty id (Nova's flavor ids are strings); None: the default.
    if value is None:
        return None
    value = v.string(255)(attr, value)
    if not value.strip():
        raise invalid_input(attr, f"'{value}' is not a valid flavor id")
    return value


# BYONF (Astara's ``byonf`` extension): admin only, so no attribute needs admin_set.
FUNCTION_TYPES = ("router", "loadbalancer")
BYONF = Resource("byonf", "byonfs", {
    "id": Attr(v.uuid_str, post=False, put=False, filter_key="id"),
    "project_id": Attr(v.string(255), put=False, filter_key="project_id"),
    "tenant_id": Attr(v.string(255), put=False, filter_key="project_id"),
    "function_type": Attr(v.one_of(*FUNCTION_TYPES), put=False, filter_key="function_type"),
    "image_uuid": Attr(v.uuid_str, filter_key="image_uuid"),
    # None: the orchestrator's default flavor.
    "flavor_id": Attr(_flavor_id, default=None, filter_key="flavor_id"),
    "created_at": Attr(post=False, put=False),
    "updated_at": Attr(post=False, put=False),
})

RESOURCES = {r.plural: r for r in (NETWORK, SUBNET, PORT, ROUTER, FLOATINGIP, BYONF)}


def parse_body(resource: Resource, body: Any, ctx: RequestContext, create: bool) -> dict:
    """Validate one resource's body; fill defaults on create. Returns clean values."""
    if not isinstance(body, dict) or resource.name not in body:
        raise bad_attr(f"Unable to find '{resource.name}' in request body")
    data = body[resource.name]
    if not isinstance(data, dict):
        raise bad_attr("Body contains invalid data")
    unknown = sorted(k for k in data if k not in resource.attrs)
    if unknown:
        raise bad_attr(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    out: dict[str, Any] = {}
    verb = "POST" if create else "PUT"
    for key, value in data.items():
        attr = resource.attrs[key]
        if not (attr.post if create else attr.put):
            raise bad_attr(f"Attribute '{key}' not allowed in {verb}")
        if attr.admin_set and not ctx.is_admin:
            action = f"{'create' if create else 'update'}_{resource.name}:{key}"
            raise PolicyNotAuthorized(action=action)
        out[key] = attr.validate(key, value) if attr.validate else value
    if create:
        _resolve_project(resource, out, ctx)
        for key, attr in resource.attrs.items():
            if key not in out and attr.default is not _UNSET:
                default = attr.default
                out[key] = list(default) if isinstance(default, list) else default
    return out


def _resolve_project(resource: Resource, out: dict, ctx: RequestContext) -> None:
    project = out.pop("project_id", None)
    tenant = out.pop("tenant_id", None)
    if project is not None and tenant is not None and project != tenant:
        raise bad_attr("'project_id' and 'tenant_id' do not match")
    wanted = project if project is not None else tenant
    if wanted is not None and wanted != ctx.project_id and not ctx.is_admin:
        raise bad_attr(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
            "request requires admin privileges"
        )
    out["project_id"] = wanted if wanted is not None else ctx.project_id


def visible_keys(resource: Resource, ctx: RequestContext) -> list[str]:
    return [k for k, a in resource.attrs.items() if ctx.is_admin or not a.admin_see]
