"""Assembles the network service from typed settings: database, bus, service, ASGI app,
and the uvicorn options it is served with."""

from __future__ import annotations

from starlette.applications import Starlette

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.common import service_auth, token_auth
from astara.common.settings import Settings
from astara.db import migrate
from astara.loadbalancer_service.service import LoadBalancerService
from astara.loadbalancer_service.settings import LoadBalancerSettings
from astara.network_service import limits
from astara.network_service.api import auth_fault, build_app
from astara.network_service.lbaasv2.local_network import LocalNetwork
from astara.network_service.lbaasv2.routes import routes as lbaasv2_routes
from astara.network_service.nova_notifier import NovaNotifier
from astara.network_service.service import NetworkService


def create_app(settings: Settings, lb: LoadBalancerSettings | None = None) -> Starlette:
    """With ``lb`` whose ``neutron_lbaasv2`` is set, the app also serves the Neutron
    LBaaS v2 paths from the load-balancer service, on the same database and bus."""
    db = migrate.open_database(settings.database)
    publisher = OutboxPublisher(WakeupDir(settings.bus.wakeup_dir))
    service = NetworkService(db, publisher, settings.network, nova_notifier(settings))
    if lb is None or not lb.neutron_lbaasv2:
        return token_auth.protect(build_app(service), settings.auth, auth_fault)
    lbaas = LoadBalancerService(db, publisher, LocalNetwork(service), lb)
    app = build_app(service, lambda dispatch: lbaasv2_routes(dispatch, lbaas),
                    {"lbaasv2": LBAASV2})
    return token_auth.protect(app, settings.auth, auth_fault)


# What /v2.0/extensions says of the paths (Neutron's alias and name).
LBAASV2 = ("LoadBalancing service v2",
           "Load balancers, listeners, pools, members and health monitors on /v2.0/lbaas/, "
           "the same objects as the load-balancer API's (astara-loadbalancer-api).")


def nova_notifier(settings: Settings) -> NovaNotifier | None:
    """Only with ``[network_service] nova_url`` set; with a ``[nova]`` auth section
    (keystoneauth's options, as Neutron's) the events carry the service user's token."""
    net = settings.network
    if not net.nova_url:
        return None
    adapter = service_auth.load(settings.auth.config_files, "nova", "compute")
    auth = service_auth.ServiceToken(adapter) if adapter is not None else None
    return NovaNotifier(net.nova_url, net.nova_project_id, auth=auth)


def uvicorn_options() -> dict:
    """How uvicorn must serve the app: headers up to ``limits`` are read, then answered."""
    return {"h11_max_incomplete_event_size": limits.H11_MAX_INCOMPLETE_EVENT_SIZE}
