"""Keystone credentials for an operator's command, read as the ``openstack`` command reads them.

``astara-ctl byonf``, ``astara-compute-burnin`` and ``astara-burnin`` act as a user, not
as a service: ``--os-cloud NAME`` (else ``$OS_CLOUD``) names a cloud of a clouds.yaml
(``$OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``,
``/etc/openstack/clouds.yaml``), or, with no cloud named, ``$OS_AUTH_URL`` and the
other ``OS_*`` variables of an openrc file do. openstacksdk's own loader reads them
into a keystoneauth session. ``login`` fetches the token once, before any call (a wrong
password or an unreachable Keystone: one ``CloudError`` line); every call then reuses
it (``service_auth.ServiceToken``: a new one only near its expiry or after a 401).
Without a cloud (``wanted`` false) the commands keep their noauth headers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from astara.common.entry import ConfigError
from astara.common.service_auth import ServiceToken, without_version


class CloudError(ConfigError):
    """No such cloud, or Keystone refused its credentials: one line to show."""


def wanted(cloud: str | None) -> bool:
    """Whether the command authenticates with Keystone: a cloud named (``--os-cloud`` or
    ``$OS_CLOUD``) or an openrc's ``$OS_AUTH_URL`` set."""
    return bool(cloud or os.environ.get("OS_CLOUD") or os.environ.get("OS_AUTH_URL"))


@dataclass
class Login:
    auth: httpx.Auth  # the token on each request (X-Auth-Token)
    project_id: str  # the token's project: who the calls act as
    _region: object
    session: object  # the keystoneauth session holding that token (openstacksdk's)
    roles: tuple[str, ...]  # the token's roles in that project
    where: str  # "cloud 'NAME'" or "the OS_* variables", for messages

    def endpoint(self, service_type: str, version_suffix: str = "") -> str:
        """The cloud's ``<type>_endpoint_override``, else the catalog's URL for the
        service type (less ``version_suffix``, a version path our clients add)."""
        url = self._region.get_endpoint(service_type) or \
            self._region.get_endpoint_from_catalog(service_type)
        if not url:
            raise CloudError(f"no {service_type} endpoint in the catalog")
        return without_version(url, version_suffix)


def login(cloud: str | None) -> Login:
    """The cloud's session, its token fetched now (CloudError if it cannot be)."""
    from keystoneauth1 import exceptions as ks_exceptions
    from openstack import config
    from openstack import exceptions as sdk_exceptions

    named = cloud or os.environ.get("OS_CLOUD")
    where = f"cloud {named!r}" if named else "the OS_* variables"
    try:
        region = config.OpenStackConfig().get_one(cloud=cloud)
        session = region.get_session()
        session.get_token()
        project = session.get_project_id()
        roles = tuple(session.auth.get_access(session).role_names)
    except sdk_exceptions.ConfigException as exc:
        raise CloudError(f"{where}: {exc}") from None
    except ks_exceptions.HttpError as exc:  # 401: a wrong password, user or project
        raise CloudError(f"Keystone refused the credentials of {where}: {exc}") from None
    except ks_exceptions.ClientException as exc:  # unreachable, timed out, no auth_url...
        raise CloudError(f"no token for {where}: {exc}") from None
    if not project:
        raise CloudError(f"{where}: the token is scoped to no project")
    return Login(ServiceToken(session), project, region, session, roles, where)
