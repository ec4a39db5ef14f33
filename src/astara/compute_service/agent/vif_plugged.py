"""What a ``vif_plugged`` job does to a tenant instance's DHCP clients (pure).

The network service says a port of the instance is wired and its DHCP can answer
(Nova's ``network-vif-plugged``). A guest whose link comes back asks for a lease at
once; our tenant namespace's ``dhclient`` would instead wait for its next retransmit.
``plan`` maps each named port to the interface holding it (by the port's MAC, as
``detach`` finds it) and says which interfaces' clients to restart: those with no
IPv4 address yet (the DHCP client script sets the address on BOUND and flushes it
when the lease ends, so an address is a bound lease); a bound interface is left alone,
so no address flaps. Ports not plugged (or not the instance's) are only reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    restart: tuple[str, ...] = ()  # interfaces whose DHCP client restarts
    bound: tuple[str, ...] = ()    # interfaces holding a lease: left alone
    absent: tuple[str, ...] = ()   # port ids with no interface in the namespace

    def summary(self) -> str:
        parts = [f"{label}: {', '.join(items)}" for label, items in
                 (("DHCP client restarted", self.restart), ("bound, left alone", self.bound),
                  ("not plugged", self.absent)) if items]
        return "; ".join(parts) or "nothing to do"


def _bound(link: dict) -> bool:
    return any(a.get("family") == "inet" and a.get("scope", "global") == "global"
               for a in link.get("addr_info") or ())


def plan(ports: Iterable[dict], port_ids: Iterable[str] | None, links: list[dict]) -> Plan:
    """``ports``: the instance's ports (``port_id``, ``mac_address``); ``port_ids``:
    those whose link came up (None: all); ``links``: ``ip -j addr show`` of the
    namespace."""
    by_mac = {str(link.get("address", "")).lower(): link for link in links
              if link.get("ifname") and link.get("ifname") != "lo" and link.get("address")}
    macs = {p.get("port_id"): str(p.get("mac_address", "")).lower() for p in ports}
    wanted = list(macs) if port_ids is None else list(dict.fromkeys(port_ids))
    restart: list[str] = []
    bound: list[str] = []
    absent: list[str] = []
    for port_id in wanted:
        link = by_mac.get(macs.get(port_id, "")) if macs.get(port_id) else None
        if link is None:  # unknown, or no MAC to find it by
            absent.append(str(port_id))
            continue
        into = bound if _bound(link) else restart
        if link["ifname"] not in into:
            into.append(link["ifname"])
    return Plan(tuple(restart), tuple(bound), tuple(absent))
