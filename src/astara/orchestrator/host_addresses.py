"""Is ``[orchestrator] management_address`` on this host? One rtnetlink address dump at
start (``common.netlink_dump``), in the orchestrator's own namespace, read only.

A failed bind is how the appliance client learns the address is missing, but with
``net.ipv4.ip_nonlocal_bind = 1`` (hosts running keepalived or haproxy) a bind of an
address the host does not hold succeeds, and the calls leave from an address whose
answers nobody receives: this check says so at start instead.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from astara.common import netlink_dump as dump
from astara.common.rtnetlink import (
    IFA_ADDRESS,
    IFA_LOCAL,
    IFADDRMSG,
    NETLINK_ROUTE,
    RTM_GETADDR,
    RTM_NEWADDR,
)
from astara.orchestrator.addresses import same_ip

LOG = logging.getLogger(__name__)
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40  # linux/if_addr.h: not usable as a source
_FAMILIES = {socket.AF_INET: 4, socket.AF_INET6: 16}
_WANTED = frozenset((IFA_ADDRESS, IFA_LOCAL))


def parse(payload: bytes) -> str | None:
    """Pure: one RTM_NEWADDR's usable address (None: tentative, failed DAD, or not IP)."""
    family, _prefixlen, flags, _scope, _index = IFADDRMSG.unpack_from(payload)
    if family not in _FAMILIES or flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
        return None
    attrs = dump.attributes(payload, IFADDRMSG.size, _WANTED)
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if not raw or len(raw) != _FAMILIES[family]:
        return None
    return socket.inet_ntop(family, raw)


def held() -> list[str]:
    """Every usable address of this namespace (OSError if netlink cannot be read)."""
    with dump.Socket(NETLINK_ROUTE) as sock:
        return [a for m in sock.dump(RTM_GETADDR, bytes(IFADDRMSG.size))
                if m.type == RTM_NEWADDR and (a := parse(m.payload)) is not None]


def check(management_address: str,
          addresses: Callable[[], list[str]] = held) -> str | None:
    """One ERROR line if the management address, which the appliance client binds as
    its source (``appliance_source``), is not (yet) on this host; returns it."""
    try:
        here = addresses()
    except OSError as exc:
        LOG.warning("cannot read this host's addresses to find [orchestrator] "
                    "management_address %s: %s", management_address, exc)
        return None
    if any(same_ip(a, management_address) for a in here):
        return None
    line = (f"[orchestrator] management_address = {management_address!r} is not (yet) on "
            f"this host: every call to an appliance is bound to it and none is answered "
            f"until it is added")
    LOG.error("%s", line)
    return line
