"""Assembles the compute API from typed settings: database, network client, service, app."""

from __future__ import annotations

from starlette.applications import Starlette

from astara.bus.wakeup import WakeupDir
from astara.common import metrics, service_auth, token_auth
from astara.common.settings import Settings
from astara.compute_service import jobs
from astara.compute_service.api.network import HttpNetwork, Network
from astara.compute_service.api.routes import auth_fault, build_app
from astara.compute_service.api.service import ComputeService
from astara.compute_service.api.state_metrics import ComputeStates
from astara.compute_service.settings import ComputeSettings
from astara.db import migrate


def create_app(settings: Settings, compute: ComputeSettings,
               network: Network | None = None) -> Starlette:
    db = migrate.open_database(settings.database)
    network = network or service_network(settings, compute)
    wakeup = WakeupDir(jobs.wakeup_dir(settings.bus.wakeup_dir))
    registries = metrics.registries()
    registries.exposed.register(ComputeStates(db))
    app = build_app(ComputeService(db, network, compute, wakeup), registries)
    return token_auth.protect(app, settings.auth, auth_fault)


def service_network(settings: Settings, compute: ComputeSettings) -> HttpNetwork:
    """The network API client: with a ``[network]`` auth section (keystoneauth's options)
    its own calls carry the service's token and the endpoint is the catalog's (or
    ``endpoint_override``); without one, ``[compute_service] network_url`` and noauth."""
    adapter = service_auth.load(settings.auth.config_files, NETWORK_AUTH_GROUP, "network")
    if adapter is None:
        return HttpNetwork(compute.network_url)
    return HttpNetwork(service_auth.endpoint(adapter),
                       service_auth=service_auth.ServiceToken(adapter))


NETWORK_AUTH_GROUP = "network"
