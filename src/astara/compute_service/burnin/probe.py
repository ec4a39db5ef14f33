"""The burn-in's eyes on the data plane: a test namespace on a network's bridge (root).

``Probe.up`` plugs a namespace of its own into the bridge the netns backend uses for
the network (same naming, ``netns.bridge_name``; created if it is not there yet),
gives it the subnet's gateway address and runs dnsmasq there, serving only the
static leases ``allow(mac, ip)`` adds (re-read on SIGHUP), so tenant instances get
their port's address. ``ping`` and ``ping_from`` (inside an instance's namespace)
retry until a deadline. ``down`` removes what ``up`` made; ``stale`` finds leftovers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
from pathlib import Path

from astara.burnin.steps import StepFailed, wait
from astara.compute_service.agent.netns import NETNS_DIR, SYS_NET, bridge_name
from astara.compute_service.agent.runner import Runner, read_pid

PROBE_PREFIX = "astara-burnin-"


class Probe:
    def __init__(self, runner: Runner, run_id: str, bridge_prefix: str, net_id: str,
                 cidr: str, address: str, workdir: Path):
        self.runner = runner
        self.ns = PROBE_PREFIX + run_id
        self.veth = ("abp" + run_id)[:15]
        self.bridge = bridge_name(bridge_prefix, net_id)
        self.network = ipaddress.ip_network(cidr)
        self.address = address
        self.workdir = Path(workdir)
        self.hosts = self.workdir / "dhcp-hosts"
        self.pidfile = self.workdir / "dnsmasq.pid"
        self.created_bridge = False

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hosts.write_text("")
        run = self.runner.run
        if not (SYS_NET / self.bridge).exists():
            run(["ip", "link", "add", self.bridge, "type", "bridge"])
            self.created_bridge = True
        run(["ip", "link", "set", self.bridge, "up"])
        run(["ip", "netns", "add", self.ns])
        run(["ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns",
             self.ns])
        run(["ip", "link", "set", self.veth, "master", self.bridge, "up"])
        run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.ns, "addr", "add",
             f"{self.address}/{self.network.prefixlen}", "dev", "eth0"])
        run(["ip", "-n", self.ns, "link", "set", "eth0", "up"])
        self.runner.spawn(
            ["ip", "netns", "exec", self.ns, "dnsmasq", "--keep-in-foreground", "--no-resolv",
             "--no-hosts", "--port=0", "--bind-interfaces", "--interface=eth0", "--user=root",
             f"--pid-file={self.workdir / 'dnsmasq.own.pid'}",
             f"--dhcp-leasefile={self.workdir / 'dnsmasq.leases'}",
             f"--dhcp-range={self.network.network_address},static,{self.network.netmask}",
             f"--dhcp-hostsfile={self.hosts}", "--log-dhcp",
             f"--log-facility={self.workdir / 'dnsmasq.log'}"],
            self.pidfile, self.workdir / "dnsmasq.log")

    def allow(self, mac: str, ip: str) -> None:
        """Serve ``ip`` to ``mac`` by DHCP from now on."""
        with self.hosts.open("a") as out:
            out.write(f"{mac},{ip}\n")
        pid = read_pid(self.pidfile)
        if pid is not None and self.runner.alive(self.pidfile):  # still our dnsmasq
            os.kill(pid, signal.SIGHUP)

    def _ping(self, ns: str, ip: str) -> bool:
        out = self.runner.run(["ip", "netns", "exec", ns, "ping", "-c1", "-W1", ip,
                               "-q"], check=False)
        return " 1 received" in out

    def ping(self, ip: str, timeout: float, ns: str | None = None) -> bool:
        try:
            return wait(lambda: self._ping(ns or self.ns, ip), timeout, f"ping {ip}")
        except StepFailed:
            return False

    def down(self) -> None:
        self.runner.kill(self.pidfile)
        self.runner.run(["ip", "link", "del", self.veth], check=False)
        if (NETNS_DIR / self.ns).exists():
            self.runner.run(["ip", "netns", "del", self.ns], check=False)
        drop_bridge_if_empty(self.runner, self.bridge)


def drop_bridge_if_empty(runner: Runner, bridge: str) -> None:
    members = SYS_NET / bridge / "brif"
    if members.exists() and not any(members.iterdir()):
        runner.run(["ip", "link", "del", bridge], check=False)


def stale() -> list[str]:
    """Probe namespaces left by interrupted burn-ins."""
    names = os.listdir(NETNS_DIR) if NETNS_DIR.exists() else []
    return sorted(n for n in names if n.startswith(PROBE_PREFIX))


def remove_stale(runner: Runner, ns: str) -> None:
    """Stop what runs in a leftover probe namespace (only ours: named by the prefix)."""
    assert ns.startswith(PROBE_PREFIX)
    pids = runner.run(["ip", "netns", "pids", ns], check=False).split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGTERM)
    runner.run(["ip", "link", "del", ("abp" + ns.removeprefix(PROBE_PREFIX))[:15]],
               check=False)
    runner.run(["ip", "netns", "del", ns], check=False)
