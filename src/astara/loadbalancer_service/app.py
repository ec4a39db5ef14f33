"""Assembles the load-balancer service from typed settings: database, bus, network
client, service and ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.common import token_auth
from astara.common.settings import Settings
from astara.db import migrate
from astara.loadbalancer_service.api import auth_fault, build_app
from astara.loadbalancer_service.network import HttpNetwork, Network
from astara.loadbalancer_service.service import LoadBalancerService
from astara.loadbalancer_service.settings import LoadBalancerSettings


def create_app(settings: Settings, lb: LoadBalancerSettings,
               network: Network | None = None) -> Starlette:
    db = migrate.open_database(settings.database)
    publisher = OutboxPublisher(WakeupDir(settings.bus.wakeup_dir))
    app = build_app(LoadBalancerService(db, publisher, network or HttpNetwork(lb.network_url),
                                        lb))
    return token_auth.protect(app, settings.auth, auth_fault)
