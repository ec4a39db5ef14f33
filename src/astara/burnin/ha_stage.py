"""The burn-in's HA stage (``astara-burnin --ha``), on the scenario's router, ``vm1`` (with
its floating IP) and ``vm2``.

An admin sets ``ha=True`` on the router: a second appliance (``ak-<id>.ha1``) boots,
on another compute host when there is one (said in the step's detail), and one of
the two holds the router's external address. ``vm2`` holds a TCP connection through
SNAT to the upstream, ``vm1`` one through its floating IP, and ``vm1`` pings the
upstream; the master dies (its processes, links and namespace): the backup takes the
address, both connections still carry data with the upstream speaking first, and the
longest gap between ping replies is reported.
The orchestrator's replacement joins as backup; ``ha=False`` leaves one appliance,
still forwarding. Roles and conntrackd's caches are read inside the namespaces as
root (``burnin.ha``): no control-plane credential is needed.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from astara.burnin import ha, host
from astara.burnin.steps import Step, StepFailed, wait

if TYPE_CHECKING:
    from astara.burnin.scenario import Scenario

PORT = 7400


class HaStage:
    def __init__(self, sc: Scenario):
        self.sc = sc
        self.master: str | None = None  # the killed member's name
        self.killed: str | None = None  # and its instance

    def steps(self) -> list[Step]:
        if not self.sc.o.ha:
            return []
        warn = self.sc.o.boot_warn
        return [
            Step("HA: ha=True boots a second appliance", self.pair_up, warn),
            Step("HA: one member master, holding the router's address", self.one_master),
            Step("HA: master killed, the backup takes over, TCP via SNAT and a FIP kept",
                 self.failover),
            Step("HA: the replacement joins as backup", self.replaced, warn),
            Step("HA: ha=False, back to one appliance, still forwarding", self.ha_off, warn),
        ]

    # -- helpers ----------------------------------------------------------------------
    def _names(self) -> tuple[str, str]:
        rid = self.sc.made["router"]
        return f"ak-{rid}", f"ak-{rid}.ha1"

    def _servers(self) -> dict:
        names = self._names()
        return {s.name: s for s in self.sc.admin.compute.servers(all_projects=True)
                if s.name in names and s.status != "DELETED"}

    def _ns(self, server) -> str:
        return self.sc.o.appliance_netns_prefix + server.id

    def _holds(self, server) -> bool:
        out = host.sh("ip", "-n", self._ns(server), "-4", "-o", "addr", check=False).stdout
        return f" {self.sc.made['router_ext_ip']}/" in out

    def _roles(self) -> dict[str, str | None]:
        return {name: ha.local_role(self._ns(s)) for name, s in self._servers().items()}

    # -- steps ------------------------------------------------------------------------
    def pair_up(self) -> str:
        sc = self.sc
        sc.admin.network.update_router(sc.made["router"], is_ha=True)
        names = self._names()
        found = wait(lambda: (s := self._servers()) and set(s) == set(names)
                     and all(x.status == "ACTIVE" for x in s.values()) and s,
                     sc.o.boot_timeout, "both appliances ACTIVE")
        hosts = {sc.admin.compute.get_server(s.id).compute_host for s in found.values()}
        return ("on two compute hosts" if len(hosts) == 2
                else "both on one compute host (no other host)")

    def one_master(self) -> str:
        def settled():
            roles = self._roles()
            masters = [n for n, r in roles.items() if r == "master"]
            if sorted(roles.values(), key=str) != ["backup", "master"] or len(masters) != 1:
                return None
            return masters[0] if self._holds(self._servers()[masters[0]]) else None

        try:
            self.master = wait(settled, 120, "one master and one backup, the master "
                               f"holding {self.sc.made['router_ext_ip']}")
        except StepFailed as exc:  # say what was seen
            seen = {n: (ha.local_role(self._ns(s)), self._holds(s))
                    for n, s in self._servers().items()}
            raise StepFailed(f"{exc}; (role, holds the address) by member: {seen}") from None
        return f"master: {self.master}"

    def failover(self) -> str:
        sc = self.sc
        assert sc.upstream is not None and self.master is not None
        servers = self._servers()
        backup = next(s for n, s in servers.items() if n != self.master)
        vm_ns = sc.ns("vm1")
        # vm2 leaves through SNAT (the router's address), vm1 through its floating IP
        held = ha.Held(sc.upstream.ns, sc.ns("vm2"), sc.upstream.address, PORT)
        fip = ha.Held(sc.upstream.ns, vm_ns, sc.upstream.address, PORT + 1)
        try:
            for conn, source in ((held, sc.made["router_ext_ip"]),
                                 (fip, sc.made.get("fip_ip"))):
                if conn.peer[0] != source or not conn.works(b"before\n"):
                    raise StepFailed(f"a connection came from {conn.peer[0]}, not {source}")
            wait(lambda: ha.external_connections(self._ns(backup)) >= 2, 30,
                 "the backup's conntrackd holding both connections")
            with tempfile.TemporaryDirectory() as tmp:
                log = Path(tmp) / "ping.log"
                with log.open("w") as out:
                    ping = subprocess.Popen(["ip", "netns", "exec", vm_ns, "ping", "-D", "-n",
                                             "-i", "0.05", "-W", "1", sc.upstream.address],
                                            stdout=out, stderr=subprocess.STDOUT)
                try:
                    wait(lambda: " bytes from " in log.read_text(), 10, "ping replies")
                    killed = time.monotonic()
                    self.killed = servers[self.master].id
                    ha.kill(self.killed, sc.o.appliance_netns_prefix)
                    wait(lambda: ha.local_role(self._ns(backup)) == "master", 15,
                         "the backup becoming master", 0.05)
                    taken = time.monotonic() - killed
                    seen = log.read_text().count(" bytes from ")
                    wait(lambda: log.read_text().count(" bytes from ") > seen + 5, 15,
                         "ping replies through the new master", 0.05)
                finally:
                    ping.send_signal(signal.SIGINT)
                    ping.wait(10)
                gap = ha.reply_gap(log.read_text())
            if not held.works(b"after\n"):
                raise StepFailed("the TCP connection through SNAT did not survive")
            if not fip.works(b"after\n"):
                raise StepFailed("the TCP connection through the floating IP did not survive")
        finally:
            held.close()
            fip.close()
        return f"backup master {taken:.2f} s after the kill; longest ping gap {gap:.2f} s"

    def replaced(self) -> None:
        assert self.master is not None

        def joined():
            s = self._servers().get(self.master)
            if s is None or s.id == self.killed or s.status != "ACTIVE":
                return False
            return ha.local_role(self._ns(s)) == "backup"

        wait(joined, self.sc.o.boot_timeout, "a replacement reporting backup")

    def ha_off(self) -> None:
        sc = self.sc
        sc.admin.network.update_router(sc.made["router"], is_ha=False)
        wait(lambda: set(self._servers()) == {self._names()[0]}, sc.o.boot_timeout,
             "one appliance left")
        url = f"http://{sc.upstream.address}:{sc.upstream.port}/" if sc.upstream else ""
        wait(lambda: sc.curl(sc.ns("vm2"), url) == sc.made["router_ext_ip"], 60,
             "vm2 reaching upstream through the router's address")
        wait(lambda: sc.curl(sc.ns("vm1"), url) == sc.made.get("fip_ip"), 60,
             "vm1 reaching upstream as its floating IP")
