"""Keystone credentials a service uses for its own calls to another service.

An auth section (``[network]``, ``[compute]``, ``[load-balancer]``...) holds
keystoneauth's own options, read with its loading helpers: ``auth_type`` and the
plugin's options (``auth_url``, ``username``...), the session's (``cafile``,
``timeout``...) and the adapter's (``endpoint_override``, ``region_name``,
``valid_interfaces``). A section without ``auth_type`` means noauth: None is returned
and the caller keeps its configured URL and noauth headers. With one, the endpoint
is the catalog's for the service type unless ``endpoint_override`` names it, and
``ServiceToken`` puts the plugin's token on each request: keystoneauth keeps the
token and fetches a new one only when it is about to expire (or after a 401).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable

import httpx
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading
from keystoneauth1 import session as ks_session
from oslo_config import cfg

# keystoneauth's session waits for ever by default: a hung Keystone or API would hold
# the calling worker; ``timeout`` in the section overrides this.
DEFAULT_TIMEOUT = 10


def register(conf: cfg.ConfigOpts, group: str) -> None:
    loading.register_auth_conf_options(conf, group)
    loading.register_session_conf_options(conf, group)
    loading.register_adapter_conf_options(conf, group)
    conf.set_default("timeout", DEFAULT_TIMEOUT, group=group)


def load(config_files: Iterable[str], group: str,
         service_type: str) -> ks_adapter.Adapter | None:
    """The adapter ``group`` of these files describes (None: no ``auth_type`` there)."""
    conf = cfg.ConfigOpts()
    register(conf, group)
    conf(args=[], project="astara", default_config_files=list(config_files),
         default_config_dirs=[])
    if not conf[group].auth_type:
        return None
    auth = loading.load_auth_from_conf_options(conf, group)
    session = loading.load_session_from_conf_options(conf, group, auth=auth)
    return loading.load_adapter_from_conf_options(conf, group, session=session,
                                                  service_type=service_type)


def endpoint(adapter: ks_adapter.Adapter, version_suffix: str = "") -> str:
    """The service's root URL: ``endpoint_override``, else the catalog's, less a
    version path our clients add themselves (the compute catalog's ``/v2.1``)."""
    url = adapter.get_endpoint()
    if not url:
        raise LookupError(f"no {adapter.service_type} endpoint in the catalog")
    return without_version(url, version_suffix)


def without_version(url: str, version_suffix: str = "") -> str:
    """``url`` without its trailing slash and ``version_suffix`` (a version path our
    clients add themselves)."""
    url = url.rstrip("/")
    if version_suffix and url.endswith(version_suffix):
        url = url[: -len(version_suffix)]
    return url


class ServiceToken(httpx.Auth):
    """The service's own token on every request; a 401 fetches a fresh one, once.
    A keystoneauth session serves as well as an adapter (``cloud_auth``)."""

    def __init__(self, adapter: ks_adapter.Adapter | ks_session.Session):
        self.adapter = adapter

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request,
                                                              httpx.Response, None]:
        request.headers["X-Auth-Token"] = self._token(request)
        response = yield request
        if response.status_code == 401:
            self.adapter.invalidate()
            request.headers["X-Auth-Token"] = self._token(request)
            yield request

    def _token(self, request: httpx.Request) -> str:
        """The token; Keystone's failures (refused, 401, timeout...) raised as an httpx
        transport error, which every caller of our clients already handles."""
        try:
            return self.adapter.get_token()
        except ks_exceptions.ClientException as e:
            raise httpx.ConnectError(f"Keystone: {e}", request=request) from e
