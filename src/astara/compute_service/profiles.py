"""Instance profiles: the processes the netns backend starts inside a namespace.

``tenant``: ``dhclient -4`` per interface with its own pid/lease files and a script
(``DHCLIENT_SCRIPT``) that only sets the namespace's address and default route (no
resolv.conf, no hostname), SLAAC enabled by sysctl, and the HTTP ``responder``
naming the instance. ``appliance``: not wired yet (see ``start``). Each process is
tracked by a pid file ``<name>.pid`` in the instance directory.
"""

from __future__ import annotations

from pathlib import Path

from astara.compute_service.backend import BackendError, InstanceSpec
from astara.compute_service.runner import Runner

DHCLIENT_SCRIPT = """#!/bin/sh
# astara tenant profile: configure only this namespace's interface.
case "$reason" in
PREINIT) ip link set dev "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
  if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
    ip -4 addr flush dev "$interface"
  fi
  ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
  for r in $new_routers; do ip -4 route replace default via "$r" dev "$interface"; break; done
  ;;
EXPIRE|FAIL|RELEASE|STOP)
  if [ -n "$old_ip_address" ]; then ip -4 addr flush dev "$interface"; fi
  ;;
esac
exit 0
"""


def _script(directory: Path) -> Path:
    path = directory / "dhclient-script"
    if not path.exists():
        path.write_text(DHCLIENT_SCRIPT)
        path.chmod(0o755)
    return path


def start(runner: Runner, spec: InstanceSpec, ns: str, directory: Path,
          interfaces: list[str], python: str) -> str:
    """Start what is not running yet; return the console text of the boot."""
    if spec.profile != "tenant":
        raise BackendError(f"profile {spec.profile!r} is not supported by this agent yet")
    lines = [f"astara-tenant {spec.name} ({spec.id}) in namespace {ns}"]
    runner.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                "net.ipv6.conf.all.accept_ra=1", "net.ipv6.conf.default.accept_ra=1",
                "net.ipv6.conf.default.autoconf=1"])
    script = _script(directory)
    for ifname in interfaces:
        pidfile = directory / f"dhclient-{ifname}.pid"
        if not runner.alive(pidfile):
            runner.spawn(["ip", "netns", "exec", ns, "dhclient", "-4", "-d", "-sf", str(script),
                          "-pf", str(directory / f"dhclient-{ifname}.own.pid"),
                          "-lf", str(directory / f"dhclient-{ifname}.leases"), ifname],
                         pidfile, directory / f"dhclient-{ifname}.log")
        lines.append(f"{ifname}: dhclient -4 started, SLAAC accepted")
    pidfile = directory / "responder.pid"
    if not runner.alive(pidfile):
        runner.spawn(["ip", "netns", "exec", ns, python, "-m",
                      "astara.compute_service.responder", "--name", spec.name],
                     pidfile, directory / "responder.log")
    lines.append(f"http responder on :80 answering {spec.name!r}")
    return "\n".join(lines)


def running(runner: Runner, directory: Path) -> bool:
    return runner.alive(directory / "responder.pid")


def stop_interface(runner: Runner, directory: Path, ifname: str) -> None:
    runner.kill(directory / f"dhclient-{ifname}.pid")


def stop_all(runner: Runner, directory: Path) -> None:
    if not directory.exists():
        return
    for pidfile in sorted(directory.glob("*.pid")):
        if pidfile.name.endswith(".own.pid"):
            continue
        runner.kill(pidfile)
