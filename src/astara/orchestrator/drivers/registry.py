"""The drivers ``[DEFAULT] enabled_drivers`` may name, and making the enabled ones.

A new kind is a driver module and one line in each table here: no client, observer,
planner or executor changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from astara.orchestrator.clients.base import LoadBalancerAPI, NetworkAPI
from astara.orchestrator.drivers import loadbalancer, router
from astara.orchestrator.drivers.base import Driver, Naming

NAMINGS: dict[str, Naming] = {"router": router.NAMING, "loadbalancer": loadbalancer.NAMING}
KNOWN = tuple(NAMINGS)


def check(names: Iterable[str]) -> tuple[str, ...]:
    """The enabled kinds, in order, once each; ValueError naming the first unknown one."""
    out: list[str] = []
    for name in (n.strip() for n in names):
        if name not in NAMINGS:
            raise ValueError(f"unknown driver {name[:64]!r} (known: {', '.join(KNOWN)})")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError(f"no driver enabled (known: {', '.join(KNOWN)})")
    return tuple(out)


def make(enabled: Iterable[str], network: NetworkAPI,
         loadbalancers: LoadBalancerAPI | None = None) -> dict[str, Driver]:
    """The enabled drivers by kind, reading through these clients."""
    drivers: dict[str, Driver] = {}
    for kind in enabled:
        if kind == "router":
            drivers[kind] = router.RouterDriver(network)
        elif kind == "loadbalancer":
            if loadbalancers is None:
                raise ValueError("the loadbalancer driver needs the load-balancer API")
            drivers[kind] = loadbalancer.LoadBalancerDriver(network, loadbalancers)
        else:
            raise ValueError(f"unknown driver {kind!r}")
    return drivers
