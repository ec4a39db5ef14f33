"""The orchestrator's two addresses on the management network, decided from the options.

``management_address`` is this machine's own; ``metadata_address`` (default: the same)
is the one every appliance's document names for its metadata proxy. In a cluster on
several machines the metadata address is one address shared by every member, so an
adopted appliance's document does not change with its owner (no push on a takeover).
The compute agents hold it on every machine, each appliance pinned to one of them, so
a connection to an appliance sent from the shared address could get its answer on
another machine: the appliance client then binds the management address as its source,
and each member's metadata proxy answers for every router, not only those it holds
(``metadata_proxy.RouterFinder``).
Pure: read by ``opts`` (checks), ``runtime`` (the client's source) and ``service`` (the
cluster capability compared between members).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from astara.common.entry import ConfigError

CAPABILITY = "metadata_address"  # what a member advertises to the others


def _ip(option: str, value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise ConfigError(f"[orchestrator] {option} = {value!r} is not an IP address") \
            from None


def check(management_address: str, metadata_address: str) -> None:
    """A wrong value is a ``ConfigError`` (one line): the metadata address, when given,
    must be an IP address of the management address's family (the appliance client
    binds one to reach the appliances the other is named to), and one a proxy can
    listen on and an appliance reach (not unspecified, multicast, loopback, nor
    link-local)."""
    if not metadata_address.strip():
        return
    meta = _ip("metadata_address", metadata_address)
    kind = _unusable(meta)
    if kind is not None:
        raise ConfigError(f"[orchestrator] metadata_address = {metadata_address!r} is {kind}: "
                          f"it must be one address on the management network")
    mgmt = _ip("management_address", management_address)
    if meta.version != mgmt.version:
        raise ConfigError(f"[orchestrator] metadata_address = {metadata_address!r} is IPv"
                          f"{meta.version} but management_address = {management_address!r} "
                          f"is IPv{mgmt.version}: they must be of one family")


def _unusable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address cannot be named in the documents (None: it can): the proxy
    listens on it, so ``::`` would be every address of the host."""
    if ip.is_unspecified:
        return "unspecified (every address of the host)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:  # reached from the appliance's own link-local address, which
        return "link-local"  # names no router to the proxy: every request a 403
    return None


def document_address(management_address: str, metadata_address: str) -> str:
    """The orchestrator address every appliance's document names."""
    return metadata_address.strip() or management_address


def appliance_source(management_address: str, metadata_address: str) -> str | None:
    """The source address the appliance client binds; None: the kernel chooses, as on
    one machine (no bind unless the metadata address is another address)."""
    if not metadata_address.strip():
        return None
    mgmt = ipaddress.ip_address(management_address.strip())
    if ipaddress.ip_address(metadata_address.strip()) == mgmt:
        return None
    return str(mgmt)


def disagreeing(me: str, mine: str, group: Mapping[str, Mapping]) -> dict[str, str]:
    """The other members whose advertised metadata address is not ``mine``, by name.
    A member that advertises none (an older version) is not counted."""
    out = {}
    for name, caps in group.items():
        theirs = caps.get(CAPABILITY) if isinstance(caps, Mapping) else None
        if name != me and isinstance(theirs, str) and not same_ip(theirs, mine):
            out[name] = theirs
    return out


def same_ip(a: object, b: object) -> bool:
    """Two spellings of one IP address; anything that is not one is no match."""
    try:
        return ipaddress.ip_address(str(a).strip()) == ipaddress.ip_address(str(b).strip())
    except ValueError:
        return False
