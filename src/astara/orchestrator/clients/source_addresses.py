"""The local address to bind before connecting to an appliance, learnt per network.

A connection from an unbound socket makes the kernel choose its source address, and
for IPv6 it weighs every address of every interface of the host (``ipv6_dev_get_saddr``).
In host mode each appliance and instance adds interfaces to the host (veths, taps,
bridges, each with a link-local address): at 300 routers (1,500 interfaces) that
choice was a third of the orchestrator's CPU while it only health-checked them, and it
grows with the host. The choice is the same for every appliance on one management
network, so the first connection's choice is remembered per destination network
(``/64`` for IPv6, ``/24`` for IPv4) and bound for the next ones; an address that is
no longer on the host is forgotten and the kernel chooses again.
"""

from __future__ import annotations

import functools
import ipaddress

V6_PREFIX, V4_PREFIX = 64, 24


@functools.lru_cache(maxsize=8192)  # parsing an address costs as much as the rest of a check
def network_of(address: str) -> str | None:
    """The key ``address`` is learnt under; None when it is no IP literal."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.is_link_local:
        return None  # a bound link-local address would need its interface's scope
    prefix = V6_PREFIX if ip.version == 6 else V4_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class SourceAddresses:
    def __init__(self) -> None:
        self._by_network: dict[str, str] = {}

    def get(self, destination: str) -> str | None:
        key = network_of(destination)
        return None if key is None else self._by_network.get(key)

    def learn(self, destination: str, local: str) -> None:
        key = network_of(destination)
        if key is not None and network_of(local) is not None:
            self._by_network[key] = local

    def forget(self, destination: str) -> None:
        key = network_of(destination)
        if key is not None:
            self._by_network.pop(key, None)
