"""How many ports a network's bridge on this host can still take (pure).

A Linux bridge numbers its ports in 10 bits and never uses 0: it takes at most 1,023
(the 1,024th ``ip link set ... master`` fails: "Exchange full"; tested in
tests/functional/compute/test_compute_bridge_ports_netns.py). On a host every appliance has
a port on the management network's bridge and every router one on its external
network's, so a host holds at most 1,023 appliances, and 1,023 routers per external
network (1,022 where the network spans hosts: its vxlan device is a port too). A plug
that would pass the limit is refused before anything is made, with a line that says
so (the instance's fault), instead of a half-made plug failing on an rtnetlink error.
The compute API does not count a network's ports per host: placement may still choose
a host whose bridge is full (not yet: ``docs/compute.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BRIDGE_PORTS = 1023


def refusal(members: Mapping[str, set[str]], adds: Iterable[tuple[str, str, str]],
            host: str) -> str | None:
    """Why the plug cannot be made (None: it can). ``members``: each bridge's ports now
    (none: not made yet); ``adds``: (bridge, tap, network id) of each port plugged (a
    tap already on its bridge, as after an interrupted plug, takes no new port)."""
    new: dict[str, set[str]] = {}
    networks: dict[str, str] = {}
    for bridge, tap, network in adds:
        if tap not in members.get(bridge, set()):
            new.setdefault(bridge, set()).add(tap)
            networks[bridge] = network
    for bridge, taps in sorted(new.items()):
        have = len(members.get(bridge, set()))
        if have + len(taps) > BRIDGE_PORTS:
            return (f"network {networks[bridge]} is full on host {host}: its bridge "
                    f"{bridge} has {have} ports, this plug needs {len(taps)} more and a "
                    f"Linux bridge takes at most {BRIDGE_PORTS}; place the instance on "
                    "another host")
    return None


def capacity_warning(capacity: int, tunnelled: bool = False) -> str | None:
    """At start: one line when ``host_capacity`` is above what one network's bridge
    holds for instances (every appliance has a port on the management network; a
    network that spans hosts has its vxlan device on its bridge too)."""
    room = BRIDGE_PORTS - 1 if tunnelled else BRIDGE_PORTS
    if capacity <= room:
        return None
    return (f"host_capacity = {capacity} is above the {room} instances a network's "
            f"bridge takes ({BRIDGE_PORTS} ports, the kernel's limit"
            + (", less its vxlan device" if tunnelled else "") + f"): past {room} "
            "instances on one network on this host (the management network has every "
            "appliance, an external network every router's gateway) their plug is "
            f"refused; lower host_capacity to {room} unless the instances spread over "
            "networks")
