"""Appliance API client: ``GET /v1/status/`` (``plain_get``) and ``PUT /v1/system/config/``
(httpx).

A cluster member's push carries its lease epoch (``wire.tenure``); an appliance that
accepted a newer one answers 409: ``Fenced``. ``override`` (``astara-debug-router
--override-fence``): pushes carry no epoch but the operator's name, past the fence.

Every call carries the appliance's own secret (``wire.auth``: derived from the
deployment key and the appliance's instance id). An appliance that refuses it
(401) is a configuration error, not a dead appliance: ``RemoteError``, so the
reconciler backs off and says why instead of rebuilding it.

``source`` (``orchestrator.addresses.appliance_source``): every call binds it, so the
answers come back to this machine and not to the one the shared metadata address is
pinned to. While that address is not on this host nothing goes out, and that is our
fault, not the appliance's: every call raises ``RemoteError`` (the reconciler backs
off, rebuilds nothing) and one ERROR line names ``management_address``. Without it the
status call binds what it learnt (``source_addresses``).
"""

from __future__ import annotations

import errno
import ipaddress
import logging

import httpx
from pydantic import ValidationError

from astara.common import http_pool
from astara.orchestrator.clients import plain_get
from astara.orchestrator.clients.base import ConfigRefused, Fenced, RemoteError
from astara.orchestrator.clients.source_addresses import SourceAddresses
from astara.orchestrator.reconcile.model import Appliance, Failure
from astara.wire import auth
from astara.wire.appliance_config import ApplianceConfig
from astara.wire.appliance_status import ApplianceStatus
from astara.wire.tenure import MAX_EPOCH, OVERRIDE_HEADER, TENURE_PATH, Tenure, override_text

LOG = logging.getLogger(__name__)


def base_url(address: str, port: int) -> str:
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"http://{host}:{port}"


def _refused(address: str) -> RemoteError:
    return RemoteError(f"appliance {address} refused our credentials (HTTP 401): is "
                       f"appliance_auth_key_file the agent's key?")


def _not_bindable(exc: BaseException) -> bool:
    """Did the connection fail binding its source (the address is not on this host)?"""
    seen: BaseException | None = exc
    for _ in range(8):  # httpx's error wraps httpcore's, which wraps the OSError
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno == errno.EADDRNOTAVAIL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _error(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"])[:300]
    except (ValueError, KeyError, TypeError):
        return r.text[:300]


def _accepted_epoch(r: httpx.Response) -> int | None:
    """The epoch a 409 says the appliance holds (None: an older agent said none)."""
    try:
        value = r.json()["accepted_epoch"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) \
        and 0 <= value <= MAX_EPOCH else None


class HttpApplianceAPI:
    def __init__(self, deployment_key: bytes, port: int = 5000, timeout: float = 5.0,
                 source: str | None = None):
        self._key = deployment_key
        self._port = port
        self._source = source
        # httpx reads the limits from the transport when one is given.
        self._http = httpx.Client(timeout=timeout, limits=http_pool.limits()) \
            if source is None else httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(
                local_address=source, limits=http_pool.limits()))
        self._timeout = timeout
        self._probe_timeout = min(timeout, 2.0)
        self._sources = SourceAddresses()
        self._source_missing = False  # logged once until a call goes out again
        self.calls = 0
        self.override: str | None = None  # who pushes past the fence (debug only)

    def close(self) -> None:
        self._http.close()

    def _source_gone(self, exc: BaseException) -> RemoteError:
        """Our source is not on this host: the appliance is not to blame."""
        text = (f"[orchestrator] management_address = {self._source!r} is not on this "
                f"host: no call to an appliance can go out ({exc})")
        if not self._source_missing:
            self._source_missing = True
            LOG.error("%s; appliances are not health-checked nor rebuilt until it is", text)
        return RemoteError(text)

    def _sent(self) -> None:
        if self._source_missing:
            self._source_missing = False
            LOG.info("[orchestrator] management_address %s is on this host again",
                     self._source)

    def _transport_error(self, address: str, exc: httpx.TransportError) -> RemoteError:
        if self._source is not None and _not_bindable(exc):
            return self._source_gone(exc)
        return RemoteError(f"appliance {address} unreachable: {exc}")

    def _headers(self, appliance_id: str) -> dict[str, str]:
        return {auth.HEADER: auth.bearer(auth.appliance_secret(self._key, appliance_id))}

    def status(self, address: str, appliance_id: str) -> Appliance:
        # The health check's one call: a plain GET on a fresh connection (plain_get).
        self.calls += 1
        try:
            code, body = self._get_status(address, appliance_id)
        except (plain_get.Unreachable, plain_get.BadAnswer):
            return Appliance(reachable=False, failure=Failure.UNREACHABLE)
        except plain_get.NoAnswer:
            return Appliance(reachable=False, failure=Failure.TIMEOUT)
        if code == 401:
            raise _refused(address)
        if code != 200:
            return Appliance(reachable=False, failure=Failure.ERROR, http_status=code)
        try:
            st = ApplianceStatus.model_validate_json(body)
        except ValidationError:  # not a status document: as good as no answer
            return Appliance(reachable=False, failure=Failure.UNREACHABLE)
        healthy = all(s.healthy for s in st.services)
        return Appliance(reachable=True, config_digest=st.config_digest, healthy=healthy,
                         report=st)

    def _get_status(self, address: str, appliance_id: str) -> tuple[int, bytes]:
        headers = list(self._headers(appliance_id).items())
        if self._source is not None:
            try:
                code, body, _ = plain_get.get(address, self._port, "/v1/status/", headers,
                                              self._timeout, self._source)
            except plain_get.SourceGone as exc:  # not held here (yet): no path of ours
                raise self._source_gone(exc) from exc
            self._sent()
            return code, body
        source = self._sources.get(address)
        try:
            code, body, local = plain_get.get(address, self._port, "/v1/status/", headers,
                                              self._timeout, source)
        except plain_get.SourceGone:
            self._sources.forget(address)  # the kernel chooses again, and we learn that
            source = None
            code, body, local = plain_get.get(address, self._port, "/v1/status/", headers,
                                              self._timeout)
        if source is None:
            self._sources.learn(address, local)
        return code, body

    def probe(self, address: str, appliance_id: str) -> bool:
        """Does the management address still take a connection (interfaces endpoint)?

        Any answer, even an error, or a connection that then times out, means the
        appliance's namespace and agent socket are still there.
        """
        self.calls += 1
        try:
            self._http.get(f"{base_url(address, self._port)}/v1/system/interfaces/",
                           headers=self._headers(appliance_id), timeout=self._probe_timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if self._source is not None and _not_bindable(exc):
                raise self._source_gone(exc) from exc
            return False
        except httpx.TransportError:
            return True  # connected, then no (good) answer
        return True

    def record_tenure(self, address: str, appliance_id: str, tenure: Tenure) -> None:
        self.calls += 1
        try:
            r = self._http.put(f"{base_url(address, self._port)}{TENURE_PATH}",
                               headers={**self._headers(appliance_id), **tenure.headers()})
        except httpx.TransportError as exc:
            raise self._transport_error(address, exc) from exc
        if r.status_code == 401:
            raise _refused(address)
        if r.status_code == 409:
            raise Fenced(f"appliance {address}: {_error(r)}", _accepted_epoch(r))
        if r.status_code in (404, 405):
            return  # an agent older than the endpoint: its next push carries the epoch
        if r.status_code != 200:
            raise RemoteError(f"appliance {address}: tenure not recorded: {r.status_code} "
                              f"{r.text[:300]}")

    def push(self, address: str, appliance_id: str, config: ApplianceConfig,
             tenure: Tenure | None = None) -> None:
        self.calls += 1
        try:
            r = self._http.put(f"{base_url(address, self._port)}/v1/system/config/",
                               content=config.model_dump_json(),
                               headers={"Content-Type": "application/json",
                                        **self._headers(appliance_id),
                                        **(tenure.headers() if tenure else {}),
                                        **({OVERRIDE_HEADER: override_text(self.override)}
                                           if self.override and tenure is None else {})})
        except httpx.TransportError as exc:
            raise self._transport_error(address, exc) from exc
        if r.status_code == 401:
            raise _refused(address)
        if r.status_code == 409:
            raise Fenced(f"appliance {address}: {_error(r)}", _accepted_epoch(r))
        if r.status_code == 503:  # it cannot read its fencing record: not the document's fault
            raise RemoteError(f"appliance {address}: {_error(r)}")
        if r.status_code != 200:
            raise ConfigRefused(f"appliance {address} refused the config: {r.status_code} "
                                f"{r.text[:300]}")
