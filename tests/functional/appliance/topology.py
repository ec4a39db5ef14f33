"""Test topology for the appliance: namespaces, bridges and veths, all created here.

A "fabric" namespace holds one bridge per network; the appliance, an "upstream"
namespace and test hosts plug into it with veth pairs created directly between
namespaces, so the host's own namespace, links, routes and firewall are never
touched. Names are `ast<id>-...`; `destroy()` kills the processes it started (by
PID) and deletes every namespace it made.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from astara.appliance.apply.netns import entered

DHCLIENT_SCRIPT = """#!/bin/sh
# Minimal dhclient script: apply the lease in this namespace only (no resolv.conf).
case "$reason" in BOUND|RENEW|REBIND|REBOOT)
  ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
  [ -n "$new_routers" ] && ip -4 route replace default via "${new_routers%% *}"
  env | grep '^new_' > "$0.$interface.lease" ;;
esac
exit 0
"""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check)


class Topology:
    def __init__(self, workdir: Path) -> None:
        self.id = secrets.token_hex(3)
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.pids: list[int] = []
        self.fabric = self.netns("fab")

    def name(self, role: str) -> str:
        return f"ast{self.id}-{role}"

    def netns(self, role: str) -> str:
        name = self.name(role)
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def bridge(self, net: str) -> str:
        br = f"br-{net}"
        if sh("ip", "-n", self.fabric, "link", "show", br, check=False).returncode:
            sh("ip", "-n", self.fabric, "link", "add", br, "type", "bridge")
            sh("ip", "-n", self.fabric, "link", "set", br, "up")
        return br

    def plug(self, netns: str, net: str, ifname: str, mac: str) -> None:
        """A veth from `netns` (named `ifname`, with `mac`) to the bridge of `net`."""
        br = self.bridge(net)
        peer = f"p{secrets.token_hex(4)}"
        # Born with its MAC, as the compute agent makes it: an agent that sees the
        # interface at once must not see another MAC first.
        sh("ip", "-n", self.fabric, "link", "add", peer, "type", "veth", "peer", "name",
           ifname, "address", mac, "netns", netns)
        sh("ip", "-n", self.fabric, "link", "set", peer, "master", br, "up")

    def up(self, netns: str, ifname: str, *addresses: str) -> None:
        for addr in addresses:
            sh("ip", "-n", netns, "addr", "add", addr, "dev", ifname, "nodad")
        sh("ip", "-n", netns, "link", "set", ifname, "up")

    def run(self, netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", netns, *args, check=check)

    def dhclient(self, netns: str, ifname: str, timeout: int = 20) -> dict[str, str]:
        """Run a real DHCP client once; returns the lease it applied."""
        script = self.workdir / f"dhclient-{netns}.sh"
        script.write_text(DHCLIENT_SCRIPT)
        script.chmod(0o755)
        conf = self.workdir / "dhclient.conf"
        conf.write_text("")
        pf, lf = self.workdir / f"{netns}.pid", self.workdir / f"{netns}.leases"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "timeout", str(timeout), "dhclient", "-4", "-1",
             "-d", "-cf", str(conf), "-pf", str(pf), "-lf", str(lf), "-sf", str(script),
             ifname], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.pids.append(proc.pid)
        # -d keeps dhclient in the foreground; it keeps running after BOUND, so wait for the
        # lease file written by our script, then stop it.
        lease = Path(f"{script}.{ifname}.lease")
        lease.unlink(missing_ok=True)
        try:
            for _ in range(timeout * 10):
                if lease.exists() and lease.stat().st_size:
                    break
                if proc.poll() is not None:
                    break
                subprocess.run(["sleep", "0.1"])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(5)
            sh("ip", "netns", "exec", netns, "pkill", "-F", str(pf), check=False)
        if not lease.exists():
            raise AssertionError(f"no DHCP lease for {netns}: {proc.stdout.read()}")
        return dict(line.split("=", 1) for line in lease.read_text().splitlines())

    @contextmanager
    def socket_in(self, netns: str, family: int = socket.AF_INET) -> Iterator[socket.socket]:
        with entered(netns):
            sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            yield sock
        finally:
            sock.close()

    def destroy(self) -> None:
        for pid in self.pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for name in reversed(self.namespaces):
            # processes still inside (e.g. a leaked dnsmasq) would keep it alive
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", name, check=False)
        self.namespaces.clear()
