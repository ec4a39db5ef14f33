"""neutron-lbaas-format notifications of the load-balancer service's writes.

As neutron-server's LBaaS v2 plugin sent them: ``<resource>.<action>.end`` with the
resource's view as ``{"<resource>": {...}}`` (``{"<resource>_id": id}`` on delete).
A child's payload also names its ``loadbalancer_id`` beside the view, so a consumer
finds the load balancer to reconcile without a lookup. Queued and flushed with the
write's transaction by the bus's ``Notifier``.
"""

from __future__ import annotations

from typing import Any

from astara.bus.notifier import Notifier


def event(kind: str, action: str, view: dict | None, id_: str,
          loadbalancer_id: str) -> tuple[str, dict[str, Any]]:
    """The event type and payload of a write of ``kind`` (pure)."""
    payload: dict[str, Any] = {f"{kind}_id": id_} if action == "delete" else {kind: view}
    if kind != "loadbalancer":
        payload["loadbalancer_id"] = loadbalancer_id
    return f"{kind}.{action}.end", payload


class LoadBalancerNotifier(Notifier):
    def changed(self, kind: str, action: str, view: dict | None, id_: str,
                loadbalancer_id: str) -> None:
        self.emit(*event(kind, action, view, id_, loadbalancer_id))
