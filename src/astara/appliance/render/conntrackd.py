"""Render conntrackd's configuration for an HA router. Pure.

Called by `converge` when the document's `ha` section is enabled with
`conntrack_sync`; `apply.ha` writes it and (re)starts conntrackd. FTFW mode (a
reliable protocol: lost sync messages are resent) over UDP unicast on the
management interface, from this member's address to the peer's, port `PORT`
(nftables accepts it from the peer only, `render.nft`). conntrackd has no check
mode: its configuration is built here from the document's validated addresses and
names only, and a start that fails is reported. The lock file is in the
appliance's state directory; the control socket is in `SOCKET_DIR`, named by a
hash of that directory (a UNIX socket path is at most 107 bytes, whatever the
state path), so one conntrackd per namespace can run on a host. Only forwarded
connections are synced: traffic to or from the appliance's own addresses (the
heartbeat, the agent's API, DHCP, DNS) is not.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from astara.wire.appliance_config import ApplianceConfig

PORT = 3780
SOCKET_DIR = Path("/run/astara/ct")  # 0700, made by `apply.ha` when it starts one


def paths(state_dir: Path) -> dict[str, Path]:
    base = state_dir / "conntrackd"
    key = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return {"conf": Path(f"{base}.conf"), "lock": Path(f"{base}.lock"),
            "sock": SOCKET_DIR / f"{key}.ctl", "log": Path(f"{base}.log")}


def _family(version: int) -> str:
    return "IPv4" if version == 4 else "IPv6"


def render(config: ApplianceConfig, names: dict[str, str], state_dir: Path) -> str:
    ha = config.ha
    p = paths(state_dir)
    mgmt_net = config.network("management")[0]
    peer = ha.peers[0]
    source = next(a.ip for a in mgmt_net.interface.addresses if a.version == peer.version)
    fam = _family(peer.version)
    own = sorted({a.ip for n in config.networks for a in n.interface.addresses},
                 key=lambda ip: (ip.version, int(ip)))
    lines = [
        "Sync {",
        "  Mode FTFW {",
        "    DisableExternalCache off",
        "  }",
        "  UDP {",
        f"    {fam}_address {source}",
        f"    {fam}_Destination_Address {peer}",
        f"    Port {PORT}",
        f"    Interface {names[mgmt_net.network_id]}",
        "    SndSocketBuffer 1249280",
        "    RcvSocketBuffer 1249280",
        "    Checksum on",
        "  }",
        "}",
        "General {",
        "  HashSize 32768",
        "  HashLimit 131072",
        "  Syslog off",
        f"  LogFile {p['log']}",
        f"  LockFile {p['lock']}",
        "  UNIX {",
        f"    Path {p['sock']}",
        "  }",
        "  NetlinkBufferSize 2097152",
        "  NetlinkBufferSizeMaxGrowth 8388608",
        "  Filter From Userspace {",
        "    Protocol Accept {",
        "      TCP",
        "      UDP",
        "      ICMP",
        "      IPv6-ICMP",
        "    }",
        "    Address Ignore {",
        "      IPv4_address 127.0.0.1",
        "      IPv6_address ::1",
        *(f"      {_family(ip.version)}_address {ip}" for ip in own),
        "    }",
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)
