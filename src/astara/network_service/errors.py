"""Neutron's exception tree, as clients see it in ``{"NeutronError": {...}}`` bodies.

Each error carries the HTTP status Neutron maps its base class to and the
``type`` Neutron puts in the body (the exception's class name, or
``HTTPBadRequest`` for a malformed body and attribute validation failures;
a value its converters cannot convert, such as a wrong type or an unparsable
cidr, is ``InvalidInput``).

    NeutronError
    ├── BadRequest (400)            InvalidInput, HTTPBadRequest, ...
    ├── NotAuthorized (403)         PolicyNotAuthorized
    ├── NotFound (404)              NetworkNotFound, SubnetNotFound, PortNotFound, ...
    └── Conflict (409)              IpAddressAlreadyAllocated, SubnetInUse, ByonfExists, ...
"""

from __future__ import annotations

from typing import Any

SHOWN = 255  # longest value an error message repeats back to the client
MAX_MESSAGE = 1024  # a message quoting a huge list is cut too


def shorten(value: Any, limit: int = SHOWN) -> str:
    """``value`` as an error message shows it: a huge bad value is not echoed whole."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class NeutronError(Exception):
    status = 500
    message = "An unknown exception occurred."

    def __init__(self, message: str | None = None, type_: str | None = None, **kwargs):
        self.kwargs = kwargs
        self.msg = shorten(message or self.message % kwargs, MAX_MESSAGE)
        self.type = type_ or type(self).__name__
        super().__init__(self.msg)

    def body(self) -> dict:
        return {"NeutronError": {"type": self.type, "message": self.msg, "detail": ""}}


class BadRequest(NeutronError):
    status = 400
    message = "Bad %(resource)s request: %(msg)s."


class HTTPBadRequest(BadRequest):
    message = "%(msg)s"


class InvalidInput(BadRequest):
    message = "Invalid input for operation: %(error_message)s."


class InvalidAllocationPool(BadRequest):
    message = "The allocation pool %(pool)s is not valid."


class OverlappingAllocationPools(BadRequest):
    message = "Found overlapping allocation pools: %(pool_1)s %(pool_2)s for subnet %(subnet_cidr)s."


class OutOfBoundsAllocationPool(BadRequest):
    message = "The allocation pool %(pool)s spans beyond the subnet cidr %(subnet_cidr)s."


class InvalidIpForSubnet(BadRequest):
    message = "IP address %(ip_address)s is not a valid IP for the specified subnet."


class InvalidIpForNetwork(BadRequest):
    message = "IP address %(ip_address)s is not a valid IP for any of the subnets on the specified network."


class AllocationOnAutoAddressSubnet(BadRequest):
    message = (
        "IPv6 address %(ip)s cannot be directly assigned to a port on subnet %(subnet_id)s as the "
        "subnet is configured for automatic addresses"
    )


class ExternalGatewayForFloatingIPNotFound(NeutronError):
    status = 404
    message = (
        "External network %(external_network_id)s is not reachable from subnet %(subnet_id)s.  "
        "Therefore, cannot associate Port %(port_id)s with a Floating IP."
    )


class NotAuthorized(NeutronError):
    status = 403
    message = "Not authorized."


class PolicyNotAuthorized(NotAuthorized):
    message = "(rule:%(action)s) is disallowed by policy."


class NotFound(NeutronError):
    status = 404
    message = "An unknown exception occurred."


class ResourceNotFound(NotFound):
    message = "The resource could not be found."


class NetworkNotFound(NotFound):
    message = "Network %(net_id)s could not be found."


class SubnetNotFound(NotFound):
    message = "Subnet %(subnet_id)s could not be found."


class PortNotFound(NotFound):
    message = "Port %(port_id)s could not be found."


class RouterNotFound(NotFound):
    message = "Router %(router_id)s could not be found."


class FloatingIPNotFound(NotFound):
    message = "Floating IP %(floatingip_id)s could not be found"


class ByonfNotFound(NotFound):
    message = "Byonf %(byonf_id)s could not be found."


class RouterInterfaceNotFound(NotFound):
    message = "Router %(router_id)s does not have an interface with id %(port_id)s"


class RouterInterfaceNotFoundForSubnet(NotFound):
    message = "Router %(router_id)s has no interface on subnet %(subnet_id)s"


class Conflict(NeutronError):
    status = 409
    message = "An unknown exception occurred."


class InUse(Conflict):
    message = "The resource is in use."


class IpAddressAlreadyAllocated(Conflict):
    message = "IP address %(ip)s already allocated in subnet %(subnet_id)s"


class IpAddressGenerationFailure(Conflict):
    message = "No more IP addresses available on network %(net_id)s."


class MacAddressInUse(InUse):
    message = "Unable to complete operation for network %(net_id)s. The mac address %(mac)s is in use."


class NetworkInUse(InUse):
    message = (
        "Unable to complete operation on network %(net_id)s. There are one or more ports still "
        "in use on the network."
    )


class SubnetInUse(InUse):
    message = (
        "Unable to complete operation on subnet %(subnet_id)s: One or more ports have an IP "
        "allocation from this subnet."
    )


class PortInUse(InUse):
    message = (
        "Unable to complete operation on port %(port_id)s for network %(net_id)s. Port already "
        "has an attached device %(device_id)s."
    )


class RouterInUse(InUse):
    message = "Router %(router_id)s %(reason)s"


class RouterInterfaceInUseByFloatingIP(InUse):
    message = (
        "Router interface for subnet %(subnet_id)s on router %(router_id)s cannot be deleted, "
        "as it is required by one or more floating IPs."
    )


class RouterInterfaceInUseByRoute(InUse):
    message = (
        "Router interface for subnet %(subnet_id)s on router %(router_id)s cannot be deleted, "
        "as it is required by one or more routes."
    )


class InvalidRoutes(BadRequest):
    message = "Invalid format for routes: %(routes)s, %(reason)s"


class RouterExternalGatewayInUseByFloatingIp(InUse):
    message = (
        "Gateway cannot be updated for router %(router_id)s, since a gateway to external network "
        "%(net_id)s is required by one or more floating IPs."
    )


class FloatingIPPortAlreadyAssociated(InUse):
    message = (
        "Cannot associate floating IP %(floating_ip_address)s (%(fip_id)s) with port %(port_id)s "
        "using fixed IP %(fixed_ip)s, as that fixed IP already has a floating IP on external "
        "network %(net_id)s."
    )


class GatewayConflictWithAllocationPools(InUse):
    message = "Gateway ip %(ip_address)s conflicts with allocation pool %(pool)s."


class ServicePortInUse(InUse):
    message = "Port %(port_id)s cannot be deleted directly via the port API: %(reason)s."


class DeviceIDNotOwnedByTenant(Conflict):
    message = (
        "The following device_id %(device_id)s is not owned by your tenant or matches another "
        "tenants router."
    )


class ByonfExists(Conflict):
    message = (
        "Project %(project_id)s already has a byonf for function_type %(function_type)s: "
        "%(byonf_id)s."
    )


class Unauthorized(NeutronError):
    status = 401
    message = "The request you have made requires authentication."


def bad_attr(msg: str) -> HTTPBadRequest:
    """The error Neutron's attribute layer raises (type ``HTTPBadRequest``)."""
    return HTTPBadRequest(msg=msg, type_="HTTPBadRequest")


def invalid_input(attr: str, reason: str) -> HTTPBadRequest:
    return bad_attr(f"Invalid input for {attr}. Reason: {reason}.")
