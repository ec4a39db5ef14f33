"""HA router checks on a running all-in-one (root): what the end-to-end test and
``bench/ha_failover.py`` share.

``pair`` reads a router's pair from the orchestrator's RPC view (``astara-ctl router
show``); ``status`` asks one member's appliance agent with its secret, as the
orchestrator does; ``kill`` makes an appliance die as a VM would (its processes, its
links, its namespace); ``Held`` is a TCP connection from an instance through the router
to the upstream, and whether it still carries data when the upstream speaks first
(after a failover only the NAT entry conntrackd synced lets that through).
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx

from astara.appliance.apply import ha as apply_ha
from astara.appliance.observe.ha import caches
from astara.burnin.host import sh
from astara.common.netns import entered
from astara.wire import auth


def router_view(state: Path, rpc: str, router_id: str) -> dict | None:
    token = (state / "rpc_auth_token").read_text().strip()
    try:
        views = httpx.get(f"{rpc}/routers/", headers={"X-Auth-Token": token},
                          timeout=5).json()["routers"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    return next((v for v in views if v["id"] == router_id), None)


def pair(state: Path, rpc: str, router_id: str) -> dict | None:
    return (router_view(state, rpc, router_id) or {}).get("ha")


def status(state: Path, member: dict) -> dict | None:
    key = (state / "appliance_auth_key").read_bytes().strip()
    secret = auth.appliance_secret(key, member["instance_id"])
    try:
        return httpx.get(f"http://[{member['management_address']}]:5000/v1/status/",
                         timeout=2, headers={auth.HEADER: auth.bearer(secret)}).json()
    except (httpx.HTTPError, ValueError):
        return None


def ha_of(state: Path, member: dict) -> dict:
    return (status(state, member) or {}).get("ha") or {}


def member_dir(ns: str) -> Path | None:
    """An HA member's state directory, from its keepalived's command line (``-f``): what
    root on the host reads without the control plane's credentials."""
    for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if args and args[0].endswith("keepalived") and "-f" in args[:-1]:
            return Path(args[args.index("-f") + 1]).parent
    return None


def local_role(ns: str) -> str | None:
    """The role its notify script last recorded (master, backup, fault), or None."""
    found = member_dir(ns)
    return apply_ha.role(found) if found is not None else None


def external_connections(ns: str) -> int:
    """How many of the peer's connections its conntrackd holds (0: none, or unknown)."""
    found = member_dir(ns)
    if found is None:
        return 0
    out = sh("conntrackd", "-C", str(found / "conntrackd.conf"), "-s", check=False)
    return caches(out.stdout if out.returncode == 0 else None).get("external", 0)


def kill(instance_id: str, prefix: str = "astara-appliance-") -> None:
    """Every process in the appliance's namespace, then its links (the host agent's
    socket there would keep the namespace, and them, alive), then its name."""
    ns = prefix + instance_id
    for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
        os.kill(int(pid), signal.SIGKILL)
    for line in sh("ip", "-n", ns, "-o", "link", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name != "lo":
            sh("ip", "-n", ns, "link", "del", name, check=False)
    sh("ip", "netns", "del", ns, check=False)


def reply_gap(ping_output: str) -> float:
    """The longest time between two consecutive echo replies (``ping -D`` stamps)."""
    stamps = [float(line[1:line.index("]")]) for line in ping_output.splitlines()
              if line.startswith("[") and "bytes from" in line]
    return max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=0.0)


class Held:
    """A TCP connection from ``client_ns`` to ``server_ns`` (``address``:``port``)."""

    def __init__(self, server_ns: str, client_ns: str, address: str, port: int):
        with entered(server_ns):
            self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("0.0.0.0", port))
        self.srv.listen(4)
        self.srv.settimeout(10)
        with entered(client_ns):
            self.client = socket.create_connection((address, port), timeout=10)
        self.conn, self.peer = self.srv.accept()
        self.conn.settimeout(10)

    def works(self, word: bytes = b"ping\n") -> bool:
        """The server speaks first, then the client answers."""
        try:
            self.conn.sendall(word)
            if self.client.recv(100) != word:
                return False
            self.client.sendall(word)
            return self.conn.recv(100) == word
        except OSError:
            return False

    def close(self) -> None:
        for sock in (self.client, self.conn, self.srv):
            sock.close()
