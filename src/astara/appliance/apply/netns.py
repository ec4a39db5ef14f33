"""Network namespaces as the appliance agent sees them: enter, exist, identity, sysctl.

Used by `host` and `converge`: an apply for a namespace appliance runs in a worker
thread that enters the namespace (``entered``, the shared ``astara.common.netns``),
so every socket it opens (netlink, listening sockets), every /proc/sys/net write and
every child process it starts (nft, dnsmasq) belongs to that namespace. `None`
means "stay here" (VM mode).
"""

from __future__ import annotations

import functools
import os
import socket
import struct

from astara.common.netns import NETNS_RUN_DIR, entered

__all__ = ["NETNS_RUN_DIR", "entered", "exists", "identity", "sysctl"]
SO_NETNS_COOKIE = 71


def exists(netns: str | None) -> bool:
    return netns is None or os.path.exists(os.path.join(NETNS_RUN_DIR, netns))


@functools.cache
def boot_id() -> str:
    """This boot's id (the same for as long as the process lives)."""
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def identity(netns: str | None) -> str:
    """Names this network stack for as long as it lives: the boot, and the namespace's
    cookie (never reused while the machine runs; a namespace re-created under the
    same name gets another) or, on kernels before 5.14, its inode."""
    boot = boot_id()
    with entered(netns), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            (cookie,) = struct.unpack("=Q", sock.getsockopt(socket.SOL_SOCKET,
                                                            SO_NETNS_COOKIE, 8))
            return f"{boot}/cookie:{cookie}"
        except OSError:
            return f"{boot}/inode:{os.stat('/proc/thread-self/ns/net').st_ino}"


def sysctl(key: str, value: str, root: str = "/proc/sys") -> bool:
    """Set a sysctl of the current (thread's) namespace; whether it was written. One
    that holds `value` already is only read: writing the forwarding ones takes the
    kernel's RTNL lock (retried while another holds it), and an appliance's
    namespace has the ARP ones from the compute agent."""
    path = f"{root}/{key.replace('.', '/')}"
    with open(path) as f:
        if f.read().strip() == value:
            return False
    with open(path, "w") as f:
        f.write(value)
    return True
