"""What the RPC views (``GET /routers/``) show of a resource's appliance, from its last
status report: the config it applied, its last apply error, its interfaces and
services, an HA member's role. Pure: read from the ``ApplianceStatus`` the worker
kept at the last status check (None before the first one, e.g. after a restart).
Consumers: ``astara-ctl router show`` and the detail pane of ``astara-ctl browse``.
"""

from __future__ import annotations

from astara.wire.appliance_status import ApplianceStatus


def view(report: ApplianceStatus | None) -> dict | None:
    if report is None:
        return None
    return {
        "config_digest": report.config_digest,
        "applies": report.applies,
        "last_error": report.last_error,
        "interfaces": [{"ifname": i.ifname, "up": i.up, "mtu": i.mtu,
                        "addresses": list(i.addresses)} for i in report.interfaces],
        "services": [{"name": s.name, "healthy": s.healthy, "detail": s.detail}
                     for s in report.services],
        "ha_role": report.ha.role if report.ha is not None else None,
    }
