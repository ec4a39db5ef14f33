"""rtnetlink numbers and headers read by the namespace observers (the appliance's
`observe.netlink`, the compute agent's `agent.netlink`) over `common.netlink_dump`."""

from __future__ import annotations

import struct

NETLINK_ROUTE = 0
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH = 18, 22, 26, 30
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH = 16, 20, 24, 28
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_STATS64 = 1, 3, 4, 5, 23
NDA_DST, NDA_LLADDR = 1, 2
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
NUD_PERMANENT = 0x80

IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
