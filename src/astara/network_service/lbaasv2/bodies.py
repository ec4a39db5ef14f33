"""neutron-lbaas v2 request bodies turned into the load-balancer service's values (pure).

Each resource accepts the attributes neutron-lbaas's v2 attribute map (with its
``shared_pools``, ``lb_network_vip`` and ``hm_max_retries_down`` extensions) allows
on POST and PUT, refused in Neutron's words; ``tenant_id``/``project_id`` resolve as
the rest of the network API resolves them. The values are then checked by the
Octavia API's own attribute checks, so both APIs accept the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from astara.loadbalancer_service import attributes as octavia
from astara.loadbalancer_service import errors as octavia_errors
from astara.network_service import errors
from astara.network_service.context import RequestContext
from astara.network_service.lbaasv2 import faults


@dataclass(frozen=True)
class Spec:
    name: str
    post: frozenset[str]
    put: frozenset[str]
    required: tuple[str, ...] = ()
    # neutron-lbaas's value sets where they are narrower than Octavia's
    values: tuple[tuple[str, tuple[str, ...]], ...] = ()


_OWNER = {"tenant_id", "project_id"}
SPECS = {
    "loadbalancers": Spec("loadbalancer", frozenset({
        *_OWNER, "name", "description", "vip_subnet_id", "vip_network_id", "vip_address",
        "provider", "admin_state_up", "flavor_id"}),
        frozenset({"name", "description", "admin_state_up"})),
    "listeners": Spec("listener", frozenset({
        *_OWNER, "name", "description", "loadbalancer_id", "default_pool_id",
        "default_tls_container_ref", "sni_container_refs", "connection_limit", "protocol",
        "protocol_port", "admin_state_up"}),
        frozenset({"name", "description", "default_pool_id", "default_tls_container_ref",
                   "sni_container_refs", "connection_limit", "admin_state_up"}),
        ("protocol", "protocol_port"),
        (("protocol", ("TCP", "HTTPS", "HTTP", "TERMINATED_HTTPS")),)),
    "pools": Spec("pool", frozenset({
        *_OWNER, "name", "description", "listener_id", "loadbalancer_id", "protocol",
        "lb_algorithm", "session_persistence", "admin_state_up"}),
        frozenset({"name", "description", "lb_algorithm", "session_persistence",
                   "admin_state_up"}),
        ("protocol", "lb_algorithm"),
        (("protocol", ("TCP", "HTTPS", "HTTP")),
         ("lb_algorithm", ("LEAST_CONNECTIONS", "ROUND_ROBIN", "SOURCE_IP")))),
    "members": Spec("member", frozenset({
        *_OWNER, "address", "protocol_port", "weight", "admin_state_up", "subnet_id",
        "name"}),
        frozenset({"weight", "admin_state_up", "name"}),
        ("address", "protocol_port", "subnet_id")),
    "healthmonitors": Spec("healthmonitor", frozenset({
        *_OWNER, "pool_id", "type", "delay", "timeout", "max_retries", "max_retries_down",
        "http_method", "url_path", "expected_codes", "admin_state_up", "name"}),
        frozenset({"delay", "timeout", "max_retries", "max_retries_down", "http_method",
                   "url_path", "expected_codes", "admin_state_up", "name"}),
        ("pool_id", "type", "delay", "timeout", "max_retries"),
        (("type", ("HTTP", "HTTPS", "PING", "TCP")),)),
}


def item(spec: Spec, body: Any) -> dict:
    """The resource's object of ``{"<name>": {...}}``, or Neutron's 400."""
    if not isinstance(body, dict) or spec.name not in body:
        raise errors.bad_attr(f"Unable to find '{spec.name}' in request body")
    data = body[spec.name]
    if not isinstance(data, dict):
        raise errors.bad_attr("Body contains invalid data")
    return data


def parse(plural: str, body: Any, ctx: RequestContext, create: bool) -> dict:
    """The values the service takes for a POST (``create``) or PUT body."""
    spec = SPECS[plural]
    data = item(spec, body)
    unknown = sorted(str(k) for k in data if k not in spec.post | spec.put)
    if unknown:
        raise errors.bad_attr(f"Unrecognized attribute(s) '{errors.shorten(', '.join(unknown))}'")
    allowed = spec.post if create else spec.put
    for key in data:
        if key not in allowed:
            raise errors.bad_attr(f"Attribute '{key}' not allowed in {'POST' if create else 'PUT'}")
    if create:
        for key in spec.required:
            if key not in data:
                raise errors.bad_attr(f"Failed to parse request. Required attribute '{key}' "
                                      "not specified")
    for key, values in spec.values:
        if key in data and data[key] not in values:
            raise errors.invalid_input(key, f"'{errors.shorten(data[key], 64)}' is not in "
                                       f"{list(values)}")
    out = {k: v for k, v in data.items() if k not in _OWNER}
    if create:
        out["project_id"] = project(data, ctx)
    if out.get("session_persistence") == {}:
        out["session_persistence"] = None  # Neutron's "none" (Octavia's null)
    for key in ("vip_address", "default_tls_container_ref", "sni_container_refs"):
        if key in out and out[key] is None:
            del out[key]  # Neutron's "not given"
    if create and plural == "healthmonitors":
        check_delay(out)
    try:
        return octavia.parse_item(octavia.RESOURCES[plural], out, create, {spec.name: out})
    except octavia_errors.ApiError as exc:
        raise faults.neutron(exc) from None


def project(data: dict, ctx: RequestContext) -> str:
    """The project an object is made for, as the network API resolves it."""
    project_id, tenant = data.get("project_id"), data.get("tenant_id")
    if project_id is not None and tenant is not None and project_id != tenant:
        raise errors.bad_attr("'project_id' and 'tenant_id' do not match")
    wanted = project_id if project_id is not None else tenant
    if wanted is not None and (not isinstance(wanted, str) or not wanted):
        raise errors.invalid_input("tenant_id", "'tenant_id' must be a non-empty string")
    if wanted is not None and wanted != ctx.project_id and not ctx.is_admin:
        raise errors.bad_attr("Specifying 'project_id' or 'tenant_id' other than the "
                              "authenticated project in request requires admin privileges")
    return wanted if wanted is not None else ctx.project_id


def check_delay(data: dict) -> None:
    """neutron-lbaas refuses a monitor whose delay is shorter than its timeout."""
    delay, timeout = data.get("delay"), data.get("timeout")
    if isinstance(delay, int) and isinstance(timeout, int) and delay < timeout:
        raise errors.BadRequest(message="Delay must be greater than or equal to timeout",
                                type_="DelayOrTimeoutInvalid")
