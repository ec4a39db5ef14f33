"""The burn-in's identities under Keystone: its user's and its admin's connections.

``astara-burnin --os-cloud NAME`` (``$OS_CLOUD``, or an openrc's ``OS_*`` variables)
logs in once through ``common.cloud_auth``; the tenant's steps (networks, router,
instances, floating IP, load balancer) act as that token's project with what a member
may do. A few steps need the ``admin`` role, as they would on Neutron and Nova
(``ADMIN_STEPS``); they use ``--admin-cloud NAME`` when given, else the same token.
``admin_refusal`` (pure) is the one line when that token has no ``admin`` role;
``api_url`` is an API's URL (an option's, else the catalog's);
``connection`` wraps a login's session (its one token, renewed by keystoneauth near
expiry or after a 401) in an openstacksdk connection to the burn-in's URLs.
"""

from __future__ import annotations

from collections.abc import Sequence

from astara.burnin.scenario import Options, session_connection

# What needs the admin role, and why (the network and compute APIs' policy).
ADMIN_STEPS = ("the external network (router:external is admin-only)",
               "seeing each appliance go (they are the service project's servers: "
               "all_projects is admin-only)")
HA_STEP = "the HA stage (a router's ha attribute is admin-only)"


def admin_refusal(where: str, roles: Sequence[str], ha: bool,
                  admin_cloud: bool = False) -> str | None:
    """Why the admin steps cannot run with a token of ``roles``, or None if they can.
    ``admin_cloud``: that token is ``--admin-cloud``'s (the remedy is another cloud
    there, not adding the option)."""
    if "admin" in roles:
        return None
    needs = [*ADMIN_STEPS, *([HA_STEP] if ha else [])]
    remedy = ("--admin-cloud must name a cloud with the admin role" if admin_cloud
              else "add --admin-cloud NAME, a cloud with the admin role")
    return (f"{where} has no admin role ({', '.join(roles) or 'no roles'}), which "
            f"{', '.join(needs[:-1])} and {needs[-1]} need: {remedy} (e.g. astara-admin)")


def connection(o: Options, session):
    """An openstacksdk connection through ``session`` (its token) to ``o``'s URLs."""
    return session_connection(o, session)


def api_url(given: str | None, login, service_type: str, noauth_default: str) -> str:
    """An API's URL: the option's, else the catalog's (with a ``cloud_auth.Login``), else
    the noauth default."""
    if given:
        return given
    if login is None:
        return noauth_default
    # The compute API's version path is added by the connection (``connection``).
    suffix = "/v2.1" if service_type == "compute" else ""
    return login.endpoint(service_type, suffix).rstrip("/") + "/"
