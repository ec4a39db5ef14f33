"""`astara-appliance-agent`: the appliance agent's entry point.

    astara-appliance-agent --mode host --auth-key-file FILE [--netns-prefix P] [--state-dir DIR]
    astara-appliance-agent --mode vm --auth-secret-file FILE [--mgmt-ifname eth0] [--name ID]

Host mode serves every appliance namespace of this host and follows them as they
appear and disappear (`discovery.Watcher`, woken by inotify and netlink); VM mode
serves the machine's own network stack (`discovery.serve_self`). Both listen for
the REST API on each appliance's management address only. Settings are resolved here and passed in.
SIGTERM/SIGINT stop serving without tearing appliances down: they keep
forwarding and serving DHCP, and the next agent takes their processes over.

Only the orchestrator may call the API (`wire.auth`). Host mode reads the
deployment key and derives each appliance's secret from its instance id (the
namespace name after the prefix); VM mode reads its own secret, provisioned at
boot. A missing, empty or group/world-readable file stops the agent with one line.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import socket
from pathlib import Path

from astara.appliance import high_fds
from astara.appliance.collector import Collector
from astara.appliance.discovery import Settings, Watcher, serve_self
from astara.appliance.host import Host
from astara.common import private
from astara.common.entry import one_line_errors
from astara.wire import auth

DEFAULT_STATE_DIR = Path("/var/lib/astara/appliance")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="astara-appliance-agent", description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("host", "vm"), required=True,
                   help="host: every appliance namespace of this host; vm: this machine")
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                   help="one sub-directory per appliance: rendered files, dnsmasq state")
    p.add_argument("--api-port", type=int, default=5000)
    p.add_argument("--netns-prefix", default=Settings.netns_prefix,
                   help="host mode: namespaces named with this prefix are appliances")
    p.add_argument("--mgmt-ifname", default=Settings.mgmt_ifname,
                   help="the management interface (inside each namespace in host mode)")
    p.add_argument("--mgmt-prefix", type=ipaddress.IPv6Network, default=None,
                   help="when the management interface has no address: use the EUI-64 "
                        "address of its MAC in this IPv6 prefix")
    p.add_argument("--scan-interval", type=float, default=Settings.interval,
                   help="host mode: seconds between two full looks at /run/netns (a "
                        "safety net: inotify and netlink report namespaces at once)")
    p.add_argument("--name", default=socket.gethostname(), help="vm mode: appliance name")
    p.add_argument("--auth-key-file", type=Path, default=None,
                   help="host mode: the deployment key (the orchestrator's "
                        "appliance_auth_key_file); mode 0600")
    p.add_argument("--auth-secret-file", type=Path, default=None,
                   help="vm mode: this appliance's own API secret; mode 0600")
    p.add_argument("--log-level", default="INFO")
    return p


def secret_for(args: argparse.Namespace):
    """name -> the secret the orchestrator must send to that appliance."""
    if args.mode == "host":
        if args.auth_key_file is None:
            raise private.SecretFileError("--auth-key-file is required in host mode")
        key = private.read_secret(args.auth_key_file, "appliance deployment key")
        prefix = args.netns_prefix
        return lambda name: auth.appliance_secret(key, name.removeprefix(prefix))
    if args.auth_secret_file is None:
        raise private.SecretFileError("--auth-secret-file is required in vm mode")
    secret = private.read_secret(args.auth_secret_file, "appliance secret").decode()
    return lambda name: secret


async def run(args: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    secrets = secret_for(args)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    args.state_dir.chmod(0o711)  # dnsmasq, unprivileged, re-reads its files: no listing
    settings = Settings(netns_prefix=args.netns_prefix, mgmt_ifname=args.mgmt_ifname,
                        mgmt_prefix=args.mgmt_prefix, interval=args.scan_interval)
    # Host mode holds many appliances' long-lived objects: full collections walk
    # only what is younger than the last one (`collector`).
    collector = Collector() if args.mode == "host" else None
    host = Host(args.state_dir, secrets, api_port=args.api_port,
                on_removed=collector.removed_one if collector else None)
    if collector:
        collector.start()
    try:
        if args.mode == "host":
            await Watcher(host, settings).run(stop)
        else:
            await serve_self(host, args.name, settings, stop)
    finally:
        await host.close(teardown=False)
        if collector:
            collector.stop()


@one_line_errors("astara-appliance-agent")
def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    private.restrict_umask()
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        secret_for(args)  # a wrong credential is one line, before anything starts
    except private.SecretFileError as exc:
        raise SystemExit(f"astara-appliance-agent: {exc}") from None
    if args.mode == "host":  # room above FD_SETSIZE for what is not libnftables'
        high_fds.raise_limit()
    asyncio.run(run(args))


if __name__ == "__main__":  # pragma: no cover
    main()
