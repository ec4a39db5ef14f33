"""Where the orchestrator reaches the network, compute and load-balancer APIs, and with
which credentials: the ``[network]``, ``[compute]`` and ``[loadbalancer]`` auth sections
(keystoneauth's own options, ``common.service_auth``) of its config files.

A section with ``auth_type`` gives the service user's token on every call (reused until
it nears expiry) and the endpoint from the catalog unless ``endpoint_override`` names
one; without it, the ``[orchestrator]`` URL and the noauth service headers. Built in
each process that calls (a worker process makes its own session and token).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from astara.common import service_auth
from astara.orchestrator.opts import OrchestratorSettings

# kind -> (auth section, catalog service type, version path our client adds itself)
SECTIONS = {"network": ("network", "network", ""),
            "compute": ("compute", "compute", "/v2.1"),
            "loadbalancer": ("loadbalancer", "load-balancer", "")}


@dataclass(frozen=True)
class Endpoint:
    url: str
    auth: httpx.Auth | None  # the service user's token; None: noauth headers only


def resolve(o: OrchestratorSettings, kind: str) -> Endpoint:
    group, service_type, suffix = SECTIONS[kind]
    configured = {"network": o.network_url, "compute": o.compute_url,
                  "loadbalancer": o.loadbalancer_url}[kind]
    adapter = service_auth.load(o.config_files, group, service_type)
    if adapter is None:
        return Endpoint(configured, None)
    return Endpoint(service_auth.endpoint(adapter, suffix), service_auth.ServiceToken(adapter))
