"""The load-balancer service's errors answered as Neutron (neutron-lbaas) answers (pure).

The service speaks Octavia: another project's object is a 403 there, a met quota a
403, a missing object "<Kind> <id> not found.". Neutron hides another project's
object (404, "could not be found", as for one that does not exist), answers a met
quota 409 ``OverQuota``, and puts every message in a ``NeutronError`` body.
"""

from __future__ import annotations

import re

from astara.loadbalancer_service import errors as octavia
from astara.network_service import errors

# Octavia's display names -> neutron-lbaas's entity names
NAMES = {"Load Balancer": "LoadBalancer", "Listener": "Listener", "Pool": "Pool",
         "Member": "Member", "Health Monitor": "HealthMonitor", "Flavor": "Flavor"}
BY_KIND = {"loadbalancer": "LoadBalancer", "listener": "Listener", "pool": "Pool",
           "member": "Member", "healthmonitor": "HealthMonitor"}
QUOTA_NAMES = {"loadbalancer": "loadbalancer", "listener": "listener", "pool": "pool",
               "member": "member", "healthmonitor": "healthmonitor"}
_NOT_FOUND = re.compile(r"^(Load Balancer|Listener|Pool|Member|Health Monitor|Flavor) "
                        r"(.*) not found\.$", re.S)


def not_found(name: str, id_: str) -> errors.NeutronError:
    return errors.NotFound(message=f"{name} {errors.shorten(id_, 64)} could not be found",
                           type_="EntityNotFound")


def neutron(exc: octavia.ApiError, default: tuple[str, str] | None = None) -> errors.NeutronError:
    """``exc`` as Neutron's error. ``default``: (kind, id) of the path's object, named
    when another project's object gives no kind of its own."""
    if isinstance(exc, octavia.NotOwner):
        if exc.kind in BY_KIND and exc.id is not None:
            return not_found(BY_KIND[exc.kind], exc.id)
        if default is not None:
            return not_found(BY_KIND[default[0]], default[1])
        return errors.ResourceNotFound(type_="NotFound")
    if isinstance(exc, octavia.QuotaMet):
        err = errors.Conflict(message=f"Quota exceeded for resources: "
                              f"['{QUOTA_NAMES.get(exc.kind, exc.kind)}'].", type_="OverQuota")
        return err
    text = exc.description if isinstance(exc, octavia.FrameworkError) else exc.message
    found = _NOT_FOUND.match(text or "")
    if exc.status == 404 or found:
        if found:
            return not_found(NAMES[found.group(1)], found.group(2))
        return errors.ResourceNotFound(type_="NotFound")
    message = text or "Bad request"
    if exc.status == 400 and "- it has children" in message:
        return errors.Conflict(message=message, type_="EntityInUse")  # neutron-lbaas's 409
    if exc.status == 400:
        return errors.BadRequest(message=message, type_="BadRequest")
    if exc.status == 403:
        return errors.PolicyNotAuthorized(message=message, type_="PolicyNotAuthorized")
    if exc.status == 409:
        return errors.Conflict(message=message, type_="Conflict")
    if exc.status < 500:
        err = errors.NeutronError(message=message, type_="HTTPError")
        err.status = exc.status
        return err
    err = errors.NeutronError(message=message, type_="ServiceUnavailable"
                              if exc.status == 503 else "HTTPInternalServerError")
    err.status = exc.status if exc.status >= 500 else 500
    return err
