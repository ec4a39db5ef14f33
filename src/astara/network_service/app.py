"""Assembles the network service from typed settings: database, bus, service, ASGI app,
and the uvicorn options it is served with."""

from __future__ import annotations

from starlette.applications import Starlette

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.common.settings import Settings
from astara.db import migrate
from astara.network_service import limits
from astara.network_service.api import build_app
from astara.network_service.nova_notifier import NovaNotifier
from astara.network_service.service import NetworkService


def create_app(settings: Settings) -> Starlette:
    db = migrate.open_database(settings.database)
    publisher = OutboxPublisher(WakeupDir(settings.bus.wakeup_dir))
    return build_app(NetworkService(db, publisher, settings.network, nova_notifier(settings)))


def nova_notifier(settings: Settings) -> NovaNotifier | None:
    """Only with ``[network_service] nova_url`` set."""
    net = settings.network
    return NovaNotifier(net.nova_url, net.nova_project_id) if net.nova_url else None


def uvicorn_options() -> dict:
    """How uvicorn must serve the app: headers up to ``limits`` are read, then answered."""
    return {"h11_max_incomplete_event_size": limits.H11_MAX_INCOMPLETE_EVENT_SIZE}
