"""An HA router's pair (``ha=True``): member naming and the pure decisions on the pair.

Member 0 is the router's own appliance (key, name, management port as for any router:
turning HA on or off keeps it). Member 1 is keyed ``<router id>.ha1``: its instance
(``ak-<router id>.ha1``), its management port and its own port on each of the router's
networks (``network:router_ha_interface``, no address: the router's addresses are held
by the master) carry that id as ``device_id``. ``member_document`` turns the router's
document into one member's (docs/ha.md, "The contract for the orchestrator");
``pair_view``, ``split_brain_victim`` judge the two members' reports. No I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from astara.wire.appliance_config import ApplianceConfig

SUFFIX = ".ha1"
# The first member's election priority is higher; with nopreempt it only decides the
# first election (a member that joins later stays backup, whatever its priority).
PRIORITIES = (110, 100)


def member_id(router_id: str) -> str:
    return router_id + SUFFIX


def split(resource_id: str) -> tuple[str, int]:
    """(router id, member) of a router key or a member key."""
    if resource_id.endswith(SUFFIX):
        return resource_id[: -len(SUFFIX)], 1
    return resource_id, 0


def router_of(resource_id: str) -> str:
    """The router a key is about (member 1's key is its router's): its lease and its
    debug switch are the router's."""
    return split(resource_id)[0]


def virtual_router_id(router_id: str) -> int:
    """VRRP's VRID, derived from the router: the same for both members and stable over
    rebuilds. Two routers may share one; their adverts are unicast to their own peers,
    so they never hear each other (docs/ha.md)."""
    try:
        n = uuid.UUID(router_id).int
    except ValueError:
        n = sum(router_id.encode())
    return n % 255 + 1


def member_document(doc: ApplianceConfig, router_id: str, member: int,
                    peers: tuple[str, ...],
                    macs: dict[str, str] | None = None) -> ApplianceConfig:
    """The router's document for one member: its own MAC on each data network
    (``macs`` by network id: member 1's ports; None: the router's own, member 0's), the
    other member's management address(es) as peers, its priority, the router's VRID."""
    body = doc.model_dump(mode="json")
    if macs is not None:
        for net in body["networks"]:
            if net["network_type"] != "management":
                net["interface"]["mac_address"] = macs[net["network_id"]]
    body["ha"] = {"enabled": True, "peers": list(peers), "priority": PRIORITIES[member],
                  "virtual_router_id": virtual_router_id(router_id)}
    return ApplianceConfig.model_validate(body)


@dataclass(frozen=True)
class MemberView:
    """One member as the orchestrator last saw it."""

    exists: bool  # an instance is there (booting or running)
    forwarding: bool  # its last pass found it configured and answering
    role: str = "unknown"  # its status's ``ha.role``
    sync: str = "off"  # its status's ``ha.sync``
    host_id: str | None = None  # the compute API's ``hostId``


def pair_view(members: tuple[MemberView, MemberView]) -> tuple[str, str | None]:
    """(state, warning): ACTIVE while one member forwards and both exist, DEGRADED while
    only one member exists or forwards, DOWN while none forwards; the warning says the
    two run on one compute host (no other host had room: no anti-affinity)."""
    a, b = members
    forwarding = a.forwarding + b.forwarding
    if forwarding == 0:
        state = "DOWN"
    elif a.exists and b.exists and forwarding == 2:
        state = "ACTIVE"
    else:
        state = "DEGRADED"
    warning = None
    if a.host_id and a.host_id == b.host_id:
        warning = "both members run on one compute host (no other host could take one)"
    return state, warning


def split_brain_victim(roles: tuple[str, str], master: int | None) -> int | None:
    """Both members report master (they cannot hear each other): the member to restart.
    Not the one the orchestrator last saw as the only master (``master``: it holds the
    connections), else the lower priority one (member 1). None: no split brain."""
    if roles != ("master", "master"):
        return None
    if master in (0, 1):
        return 1 - master
    return 1


def group_name(router_id: str) -> str:
    """The pair's soft-anti-affinity server group, in the service project."""
    return f"astara-ha-{router_id}"


def boot_hints(group: tuple[str, tuple[str, ...]] | None, other: tuple[str, ...]
               ) -> tuple[str | None, tuple[str, ...]]:
    """(the ``group`` hint, the ``different_host`` hint) of a member's boot. ``group``:
    the pair's server group (id, members), None if the compute API has none for it;
    ``other``: the other member's instance. The group keeps the members apart where it
    can and lets them share a host where it cannot (soft-anti-affinity); only an other
    member booted outside it (before the router was HA) is named as ``different_host``
    too, which a real Nova's filter enforces strictly (docs/ha.md)."""
    if group is None:
        return None, other
    gid, members = group
    return gid, tuple(x for x in other if x not in members)


def leftover_members(found: Iterable[str], listed: Collection[str],
                     mine: Collection[str]) -> tuple[set[str], set[str]]:
    """After a restart, the member 1s seen (``found``: the resource ids in appliance
    instances' metadata and management ports' ``device_id``, any kind) against the routers
    the network API lists: (member ids whose router is gone: removed now, no router pass
    will ever look; router ids among ``mine`` that have one: their first full pass looks
    for it, and removes it unless the router is HA). Member 1 is never stored, so a router
    the store held nothing for would otherwise keep it."""
    routers = {split(x)[0] for x in found if split(x)[1]}
    return ({member_id(r) for r in routers if r not in listed},
            {r for r in routers if r in mine})


def sole_master(roles: tuple[str, str]) -> int | None:
    """The member that alone reports master, if one does."""
    masters = [i for i, role in enumerate(roles) if role == "master"]
    return masters[0] if len(masters) == 1 else None
