"""Instance profiles: the processes the netns backend starts inside a namespace.

``tenant``: ``dhclient -4`` per interface with its own pid/lease files and a script
(``DHCLIENT_SCRIPT``) that only sets the namespace's address and default route (no
resolv.conf, no hostname), SLAAC enabled by ``sysctls`` (the backend writes them),
and the HTTP ``responder`` naming the instance. ``appliance``: nothing runs inside
(the host's single ``astara-appliance-agent --mode host`` discovers the namespace
and configures its interfaces from its config document); only the management interface ``eth0`` gets
the management port's fixed IPs, so the agent can listen at once, and an interface
whose port has no IPv6 fixed IP starts with IPv6 off (``without_ipv6``). Each process is
tracked by a pid file ``<name>.pid`` in the instance directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from astara.compute_service.agent import neighbours
from astara.compute_service.agent.backend import BackendError, InstanceSpec
from astara.compute_service.agent.responders import Responders
from astara.compute_service.agent.runner import Runner, in_netns

DHCLIENT_SCRIPT = """#!/bin/sh
# astara tenant profile: configure only this namespace's interface.
case "$reason" in
PREINIT) ip link set dev "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
  # dhclient writes these as dotted quads: anything else is no line of ours (checked
  # before anything is changed).
  case "$new_ip_address $new_subnet_mask $new_routers" in *[!0-9.\\ ]*) exit 1 ;; esac
  if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
    ip -4 addr flush dev "$interface"
  fi
  # One ip process for the address and the route: each costs milliseconds more on a
  # host of a thousand instances, and the lease is on the way to a router's ready.
  {
    echo "addr replace $new_ip_address/$new_subnet_mask dev $interface"
    for r in $new_routers; do echo "route replace default via $r dev $interface"; break; done
  } | ip -4 -batch -
  ;;
EXPIRE|FAIL|RELEASE|STOP)
  if [ -n "$old_ip_address" ]; then ip -4 addr flush dev "$interface"; fi
  ;;
esac
exit 0
"""


# Retry quickly (a namespace "boots" in milliseconds, often before its DHCP server
# knows it) and never give up: the defaults back off to minutes.
DHCLIENT_CONF = """initial-interval 1;
backoff-cutoff 2;
timeout 3600;
retry 2;
"""


def _conf(directory: Path) -> Path:
    path = directory / "dhclient.conf"
    if not path.exists():
        path.write_text(DHCLIENT_CONF)
    return path


def _script(directory: Path) -> Path:
    path = directory / "dhclient-script"
    if not path.exists():
        path.write_text(DHCLIENT_SCRIPT)
        path.chmod(0o755)
    return path


def addresses(port: dict) -> list[str]:
    """``address/prefixlen`` of each fixed IP of ``port`` (no known length: /64, /32)."""
    out = []
    for ip in port.get("fixed_ips", ()):
        v6 = ":" in ip["ip_address"]
        out.append(f"{ip['ip_address']}/{ip.get('prefixlen') or (64 if v6 else 32)}")
    return out


# An appliance answers ARP only for an address of the interface asked (arp_ignore=1)
# and names its own address of the outgoing interface in its requests (arp_announce=2):
# a neighbour on one network never learns the appliance's addresses on another. The
# appliance agent writes the same (``appliance.converge.SYSCTLS``); IPv6 needs nothing
# (Linux answers a neighbour solicitation only for the receiving interface's addresses).
APPLIANCE_ARP = {"arp_ignore": "1", "arp_announce": "2", "proxy_arp": "0"}


def without_ipv6(profile: str, plugs: Iterable[tuple[dict, str]]) -> list[str]:
    """The interfaces of an appliance's plug that start with IPv6 off: those whose port
    has no IPv6 fixed IP, but its management port. Each IPv6 interface of a router's
    namespace joins half a dozen multicast groups, reporting each (MLD) and checking
    its link-local address (DAD): on a network of a thousand routers (an external
    one), each such frame is flooded into every other router's namespace, about 7 ms of
    the host's CPU per frame (``bench/mld_flood.py``), and every group costs a
    neighbour entry of the host-wide IPv6 table. The appliance agent turns IPv6 on
    for an interface its document gives an IPv6 address (``appliance.converge``)."""
    if profile != "appliance":
        return []
    return [ifname for port, ifname in plugs if not neighbours.is_management(port)
            and not any(":" in ip.get("ip_address", "") for ip in port.get("fixed_ips", ()))]


def sysctls(profile: str, interfaces: list[str], ipv6_off: Iterable[str] = ()) -> dict[str, str]:
    """What the backend writes in a namespace before its links go up: SLAAC (tenant);
    strict ARP, ``ipv6_off`` interfaces' IPv6 off (``without_ipv6``) and no router
    solicitation from the others (appliance). An appliance is a router once its agent
    turns forwarding on, and until then its IPv6 interfaces would solicit routers: a
    solicitation on the management network is flooded to every appliance, and each
    one that is a router already makes a neighbour entry for its sender, a thousand
    entries of the host-wide IPv6 table for one frame. Its addresses and routes come
    from its document, never from an advertisement."""
    if profile == "appliance":
        off = set(ipv6_off)
        return {**{f"net.ipv4.conf.{scope}.{key}": value
                   for scope in ("all", "default", *interfaces)
                   for key, value in APPLIANCE_ARP.items()},
                **{f"net.ipv6.conf.{scope}.router_solicitations": "0"
                   for scope in ("default", *interfaces) if scope not in off},
                **{f"net.ipv6.conf.{name}.disable_ipv6": "1" for name in sorted(off)}}
    if profile != "tenant":
        return {}
    # The SLAAC address is the port's EUI-64 fixed IP, the only one the anti-spoofing
    # filter lets out: no temporary or stable-privacy address, whatever the host's
    # defaults a namespace may inherit.
    slaac = {"accept_ra": "1", "autoconf": "1", "use_tempaddr": "0", "addr_gen_mode": "0"}
    out = {"net.ipv6.conf.all.accept_ra": "1"}
    for scope in ("default", *interfaces):
        out |= {f"net.ipv6.conf.{scope}.{key}": value for key, value in slaac.items()}
    return out


def start(runner: Runner, spec: InstanceSpec, ns: str, directory: Path,
          interfaces: list[str], responders: Responders) -> str:
    """Start what is not running yet; return the console text of the boot."""
    if spec.profile == "appliance":
        return _appliance(runner, spec, ns)
    if spec.profile != "tenant":
        raise BackendError(f"profile {spec.profile!r} is not supported by this agent")
    lines = [f"astara-tenant {spec.name} ({spec.id}) in namespace {ns}"]
    script = _script(directory)
    for ifname in interfaces:
        if not runner.alive(directory / f"dhclient-{ifname}.pid"):
            _dhclient(runner, ns, directory, ifname, script)
        lines.append(f"{ifname}: dhclient -4 started, SLAAC accepted")
    pidfile = directory / "responder.pid"
    if not runner.alive(pidfile):
        responders.start(ns, spec.name, pidfile, directory / "responder.log")
    lines.append(f"http responder on :80 answering {spec.name!r}")
    return "\n".join(lines)


def _dhclient(runner: Runner, ns: str, directory: Path, ifname: str, script: Path) -> None:
    runner.spawn([*in_netns(ns), "dhclient", "-4", "-d", "-sf", str(script),
                  "-cf", str(_conf(directory)),
                  "-pf", str(directory / f"dhclient-{ifname}.own.pid"),
                  "-lf", str(directory / f"dhclient-{ifname}.leases"), ifname],
                 directory / f"dhclient-{ifname}.pid", directory / f"dhclient-{ifname}.log")


def restart_dhclient(runner: Runner, ns: str, directory: Path, ifname: str) -> None:
    """Stop ``ifname``'s DHCP client (if it runs) and start a new one, which asks at
    once: what a guest does when it sees its link come back.

    Only an unbound client is restarted (``vif_plugged``): it has no lease to release,
    and SIGTERM runs no script of it either, so SIGKILL loses nothing, and its exit
    (~10 ms, its packet socket's close) is not waited for. If it bound meanwhile,
    SIGKILL leaves its address (no STOP script flushes it) and the new client, reading
    the lease file, asks for the same address again."""
    runner.kill_now(directory / f"dhclient-{ifname}.pid")
    # The killed client removes nothing: a dhclient that refuses to start while its own
    # pid file names a live process (some distributions' do) would see it still dying.
    (directory / f"dhclient-{ifname}.own.pid").unlink(missing_ok=True)
    _dhclient(runner, ns, directory, ifname, _script(directory))


def management_addresses(spec: InstanceSpec) -> list[str]:
    """What an appliance's ``eth0`` gets: its first (management) port's fixed IPs only."""
    return addresses(spec.ports[0]) if spec.ports else []


def _appliance(runner: Runner, spec: InstanceSpec, ns: str) -> str:
    lines = [f"astara-appliance {spec.name} ({spec.id}) in namespace {ns}"]
    if spec.ports:
        cidrs = management_addresses(spec)
        # one batch: made over rtnetlink in this process (``ip -n`` copies the host's
        # mounts and resolves eth0 by dumping links: ~19 ms at a thousand appliances)
        runner.batch([f"addr replace {cidr} dev eth0" + (" nodad" if ":" in cidr else "")
                      for cidr in cidrs], netns=ns)
        lines += [f"eth0 (management): {cidr}" for cidr in cidrs]
    lines.append("waiting for astara-appliance-agent --mode host")
    return "\n".join(lines)


def missing(runner: Runner, directory: Path, interfaces: list[str]) -> tuple[str, ...]:
    """The tenant processes of a running instance that are not running (by pid file)."""
    names = [f"dhclient-{ifname}" for ifname in sorted(interfaces)] + ["responder"]
    return tuple(n for n in names if not runner.alive(directory / f"{n}.pid"))


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
