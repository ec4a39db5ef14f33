"""Which router each floating IP was last associated with, as the network API's own
``floatingip.*.end`` notifications named it (``intake.floating_ip_router``).

Read by the intake thread of the orchestrator's parent process: a real Neutron's
disassociation names no router, and the routers' last models (the workers' reports,
up to a second behind) may not hold the address yet when it comes soon after the
association. The router named here is only woken (its model is read again and decides),
so no more is trusted than a notification already is. Bounded: the oldest go first.
"""

from __future__ import annotations

from collections import OrderedDict


class FloatingIPRouters:
    def __init__(self, limit: int = 100_000):
        self._limit = limit
        self._router: OrderedDict[str, str] = OrderedDict()

    def note(self, floatingip_id: str, router_id: str | None) -> None:
        """What a notification named now (None: no router, or deleted)."""
        self._router.pop(floatingip_id, None)
        if router_id:
            self._router[floatingip_id] = router_id
            while len(self._router) > self._limit:
                self._router.popitem(last=False)

    def last(self, floatingip_id: str) -> str | None:
        return self._router.get(floatingip_id)
