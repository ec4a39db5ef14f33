"""Which router each floating IP was last associated with, as the network API's own
``floatingip.*.end`` notifications named it (``intake.floating_ip_router``), and
(``LastPushed``) which floating IPs each router's appliance was last pushed before a
restart, as the state store kept them.

Read by the intake thread of the orchestrator's parent process: a real Neutron's
disassociation names no router, and the routers' last models (the workers' reports,
up to a second behind) may not hold the address yet when it comes soon after the
association. The router named here is only woken (its model is read again and decides),
so no more is trusted than a notification already is. Bounded: the oldest go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping


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


class LastPushed:
    """The floating IPs each router's appliance was last pushed, from the state store's
    rows (``RouterStateStore.floating_ips``) read once at start: a move or disassociation
    heard before a router's worker has reported it (a restart empties ``FloatingIPRouters``
    and the reports) still wakes the router that lost the address. A router's entry goes
    once its worker reports it (from then on the reports answer), drops it (gone), or it
    is another member's (``forget``, ``retain``). Router ids only: the tenant a woken
    router is queued with comes from its own record (``intake.owned_ref``)."""

    def __init__(self, rows: Mapping[str, Iterable[str]] | None = None):
        self._routers: dict[str, set[str]] = {}  # address -> router ids
        self._addresses: dict[str, tuple[str, ...]] = {}
        for rid, addresses in (rows or {}).items():
            self._addresses[rid] = tuple(addresses)
            for address in self._addresses[rid]:
                self._routers.setdefault(address, set()).add(rid)

    def routers(self, address: str | None) -> list[str]:
        """The ids of the routers last pushed ``address``, sorted."""
        return sorted(self._routers.get(address or "", ()))

    def forget(self, router_id: str) -> None:
        for address in self._addresses.pop(router_id, ()):
            held = self._routers.get(address, set())
            held.discard(router_id)
            if not held:
                self._routers.pop(address, None)

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Forget every router ``keep`` refuses."""
        for rid in [rid for rid in self._addresses if not keep(rid)]:
            self.forget(rid)
