"""``astara-netns-cleanup``: remove what Astara left on this host (when nothing runs).

Lists, and with ``--force`` removes: namespaces named with Astara's prefixes
(appliances and instances; ``--prefix`` names others, e.g. ``bi-up-``, a killed
burn-in's upstream) after killing the processes inside them (found with
``ip netns pids``, so only theirs), Astara's bridges (``brq*``) that have no
port left but their VXLAN device (``vxbrq*``, removed with them), and the
anti-spoofing chains (``netdev astara_antispoof``) whose tap is gone, then that table
once it holds no chain, and conntrackd's control sockets (``/run/astara/ct/*.ctl``)
once no appliance namespace is left. Never touches anything else. Stop
``astara-aio`` (or the compute agent) first, or it will plug things back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

import psutil

from astara.appliance.render.conntrackd import SOCKET_DIR
from astara.common.entry import one_line_errors
from astara.compute_service.agent import antispoof, vxlan

PREFIXES = ("astara-appliance-", "astara-vm-")
BRIDGE_PREFIX = "brq"


def _run(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=False).stdout


def namespaces(prefixes: tuple[str, ...]) -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines()
            if line.strip() and line.split()[0].startswith(prefixes)]


def _json(*args: str) -> list[dict]:
    try:
        return json.loads(_run("ip", "-j", *args) or "[]")
    except ValueError:
        return []


def peers_in(names: list[str]) -> set[str]:
    """Root-namespace links (veth ends) whose peer is in one of the namespaces ``names``."""
    # Links first: listing them is what gives their peers' namespaces an id (a namespace
    # nothing has looked across to yet has none in `ip netns list`).
    links = _json("link", "show")
    ids = {n["id"] for n in _json("netns", "list") if n.get("name") in names and "id" in n}
    return {link["ifname"] for link in links if link.get("link_netnsid") in ids}


def wait_gone(links: set[str], timeout: float = 30.0) -> set[str]:
    """Wait until the kernel has removed ``links`` (a deleted namespace's veths go in a
    kernel work queue, after ``ip netns del`` returns); what is still there at the end."""
    deadline = time.monotonic() + timeout
    left = set(links)
    while left:
        left = {name for name in left if os.path.exists(f"/sys/class/net/{name}")}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return left


def bridges(prefix: str) -> list[str]:
    out = _run("ip", "-o", "link", "show", "type", "bridge")
    names = [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]
    return [n for n in names if n.startswith(prefix)]


def stale_chains(chains: set[str], links: set[str]) -> list[str]:
    """Anti-spoofing chains whose device is gone (its instance was removed)."""
    return sorted(chains - links)


def filter_chains() -> set[str] | None:
    """The chains of our anti-spoofing table, None if there is no such table."""
    out = _run("nft", "-j", "list", "table", antispoof.FAMILY, antispoof.TABLE)
    try:
        return antispoof.chains(json.loads(out)) if out.strip() else None
    except ValueError:
        return None


def _filters(force: bool) -> None:
    chains = filter_chains()
    if chains is None:
        return
    stale = stale_chains(chains, set(os.listdir("/sys/class/net")))
    for name in stale:
        print(f"filter chain {antispoof.FAMILY} {antispoof.TABLE} {name}")
    if force:
        if stale:
            subprocess.run(["nft", "-f", "-"], input=antispoof.script(
                antispoof.delete_script(stale)), text=True, capture_output=True, check=False)
        if drop_filter_table_if_empty():
            print(f"table {antispoof.FAMILY} {antispoof.TABLE}")


def drop_filter_table_if_empty() -> bool:
    """Delete our anti-spoofing table if it holds no chain; True if it did."""
    if filter_chains() != set():
        return False
    subprocess.run(["nft", "delete", "table", antispoof.FAMILY, antispoof.TABLE],
                   capture_output=True, check=False)
    return True


def _kill_inside(namespaces_: list[str]) -> None:
    """SIGTERM everything running in these namespaces, wait once, SIGKILL the rest."""
    pids = [int(p) for ns in namespaces_ for p in _run("ip", "netns", "pids", ns).split()]
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            proc.terminate()
            procs.append(proc)
    _gone, alive = psutil.wait_procs(procs, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


@one_line_errors("astara-netns-cleanup")
def _sockets(sock_dir, left: list[str], force: bool) -> list[str]:
    """conntrackd's control sockets, named by a hash (their appliance is not named):
    left behind once no appliance namespace is (a host that died, a cleanup)."""
    if left or not sock_dir.is_dir():
        return []
    found = sorted(str(p) for p in sock_dir.glob("*.ctl"))
    for path in found:
        print(f"socket {path}")
        if force:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="astara-netns-cleanup", description=__doc__.split("\n")[0])
    p.add_argument("--force", action="store_true", help="remove (default: only list)")
    p.add_argument("--prefix", action="append", help="namespace prefix (repeatable)")
    p.add_argument("--bridge-prefix", default=BRIDGE_PREFIX)
    a = p.parse_args(argv)
    prefixes = tuple(a.prefix) if a.prefix else PREFIXES
    found = namespaces(prefixes)
    for ns in found:
        print(f"namespace {ns}")
    if a.force and found:
        _kill_inside(found)
        peers = peers_in(found)
        for ns in found:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        # Their veths on our bridges would make those look in use: the management
        # bridge would keep its address and break the next start.
        if left := wait_gone(peers):
            print(f"still there after 30 s: {', '.join(sorted(left))}", file=sys.stderr)
    tunnel = vxlan.device_prefix(a.bridge_prefix)
    for br in bridges(a.bridge_prefix):
        members = [line.split(": ")[1].split("@")[0] for line in
                   _run("ip", "-o", "link", "show", "master", br).splitlines() if ": " in line]
        if any(not m.startswith(tunnel) for m in members):
            continue  # still has ports: something uses it (our vxlan device is no user)
        print(f"bridge {br}" + "".join(f" (with vxlan device {m})" for m in members))
        if a.force:
            for name in [*members, br]:
                subprocess.run(["ip", "link", "del", name], check=False)
    _filters(a.force)
    _sockets(SOCKET_DIR, namespaces(PREFIXES), a.force)
    if not a.force and found:
        print("(nothing removed: add --force)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
