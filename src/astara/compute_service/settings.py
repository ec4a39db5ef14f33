"""Typed settings of the compute service, resolved once at an entry point.

``load(argv, prog)`` parses the common and compute options and returns the common
``Settings`` plus a frozen ``ComputeSettings``; nothing below the entry points reads
oslo.config.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from oslo_config import cfg

from astara.common import opts as common_opts
from astara.common import settings as common
from astara.common.entry import ConfigError, note_operator_paths
from astara.compute_service import opts
from astara.compute_service.dispatcher.consumer import MAX_RETRY_DELAY, RetryPolicy

# The orchestrator's management subnet hands appliances addresses from the prefix's
# ::10 on (orchestrator/management.py ``_find_or_create``): ::1 .. ::f stay free for
# the holders' own addresses and the shared metadata address.
MANAGEMENT_POOL_START = 0x10


@dataclass(frozen=True)
class ComputeSettings:
    """Every field comes from an option of ``opts`` (no defaults here: see ``defaults``)."""

    host: str
    bind_host: str
    bind_port: int
    network_url: str
    availability_zone: str
    quota_instances: int
    quota_instances_overrides: tuple[tuple[str, int], ...]
    host_capacity: int
    agent_workers: int
    netns_prefix: str
    bridge_prefix: str
    appliance_netns_prefix: str
    management_network: str
    management_host_address: str
    tunnel_address: str  # "": no VXLAN (networks stay on this host)
    # the holders of a management address each (), (): the management network stays on
    # each host
    management_address_host: tuple[str, ...]
    management_metadata_address: str  # "": no shared metadata address on the holders
    metadata_secret: str
    metadata_bind_host: str
    metadata_port: int
    metrics_bind_host: str
    agent_metrics_port: int  # 0: no listener
    dispatcher_metrics_port: int  # 0: no listener
    reconcile_interval: float
    reconcile_fix: frozenset[str]
    heartbeat_interval: float
    agent_down_time: float
    dispatcher_max_attempts: int
    dispatcher_retry_delay: float
    state_dir: Path


PREFETCH = 10  # unacknowledged compute events a dispatcher holds at most (if not set)


def bus_transport(conf: cfg.ConfigOpts, base: common.Settings):
    """The oslo.messaging transport of ``[DEFAULT] transport_url`` when ``[bus] transport
    = amqp`` (the dispatcher consumes the agents' events from RabbitMQ), else None."""
    if base.bus.transport != "amqp":
        return None
    from astara.bus import amqp  # oslo.messaging: only when used

    transport = amqp.transport(conf)
    rabbit = getattr(conf, "oslo_messaging_rabbit", None)  # the rabbit driver's options
    if rabbit is not None and not (rabbit.amqp_durable_queues or rabbit.rabbit_quorum_queue):
        # The relay's cursor moves once the broker confirms: a queue lost in a broker
        # restart would lose the events in it for good.
        raise ConfigError("[bus] transport = amqp needs durable queues: set [oslo_messaging_"
                          "rabbit] amqp_durable_queues = true (or rabbit_quorum_queue)")
    if rabbit is not None:
        # oslo's default is no limit: a stopping or stalled holder would sit on the
        # whole backlog. Order does not depend on it (the applied cursor), load does.
        conf.set_default("rabbit_qos_prefetch_count", PREFETCH, group="oslo_messaging_rabbit")
    return transport


def retry_policy(c: ComputeSettings) -> RetryPolicy:
    return RetryPolicy(max_attempts=c.dispatcher_max_attempts,
                       delay=c.dispatcher_retry_delay, max_delay=MAX_RETRY_DELAY)


def quota_overrides(raw: dict[str, str]) -> tuple[tuple[str, int], ...]:
    """``project:limit`` pairs of ``quota_instances_overrides`` (-1: no limit)."""
    pairs, bad = [], []
    for project, limit in raw.items():
        try:
            pairs.append((project, int(limit)))
        except ValueError:
            bad.append(f"{project}:{limit}")
    if bad:
        raise ConfigError(f"[{opts.GROUP}] quota_instances_overrides: {', '.join(bad)} is "
                          f"not project:limit with an integer limit (-1: unlimited)")
    return tuple(pairs)


def tunnel_address(raw: str) -> str:
    """``tunnel_address`` as a plain IP address ("" stays ""), else a ConfigError."""
    if not raw.strip():
        return ""
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        raise ConfigError(f"[{opts.GROUP}] tunnel_address: {raw!r} is not an IPv4 or IPv6 "
                          f"address (no prefix length; empty: no VXLAN)") from None


def management_address_host(raw: str, tunnel: str) -> tuple[str, ...]:
    """``management_address_host``, the holders' names (comma-separated, in order, no
    repeats), which mean something only with a tunnel address (without one the
    management network cannot span hosts): else a ConfigError."""
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if names and not tunnel.strip():
        raise ConfigError(f"[{opts.GROUP}] management_address_host: {', '.join(names)!r} "
                          f"needs a tunnel_address (the management network spans hosts "
                          f"by VXLAN)")
    return names


def management_metadata_address(raw: str, holders: tuple[str, ...],
                                host_address: str = "") -> str:
    """``management_metadata_address``: a plain IP address ("" stays ""), meaningful
    only with holders (each holds it beside its own address), not this host's
    ``management_host_address`` (``host_address``), of its family, below the
    appliances' pool of its prefix: else a ConfigError."""
    text = raw.strip()
    if not text:
        return ""
    try:
        address = str(ipaddress.ip_address(text))
    except ValueError:
        raise ConfigError(f"[{opts.GROUP}] management_metadata_address: {text!r} is not "
                          f"an IPv4 or IPv6 address (no prefix length; empty: none)") from None
    if not holders:
        raise ConfigError(f"[{opts.GROUP}] management_metadata_address: {address} needs "
                          f"management_address_host (the holders hold it)")
    if host_address and (why := _metadata_clash(address, host_address)):
        raise ConfigError(f"[{opts.GROUP}] management_metadata_address: {address} {why} "
                          f"(every holder holds it beside its own address)")
    return address


def _metadata_clash(address: str, host_address: str) -> str | None:
    """Why the metadata ``address`` cannot sit beside ``host_address`` (None: it can)."""
    meta = ipaddress.ip_address(address)
    try:
        own = ipaddress.ip_interface(host_address)
    except ValueError:
        return None  # management_host_address is checked where it is used
    if meta.version != own.version:
        return (f"is not of the family of management_host_address {host_address}")
    if meta == own.ip:
        return f"is this host's management_host_address {host_address}"
    if meta in own.network and \
            int(meta) - int(own.network.network_address) >= MANAGEMENT_POOL_START:
        return (f"lies in the management subnet's allocation pool (from "
                f"::{MANAGEMENT_POOL_START:x} of {own.network}): an appliance could be "
                f"given it")
    return None


# vxlan device names, "vx" + bridge_prefix + the VNI's six hex digits, fit in 15
MAX_TUNNEL_BRIDGE_PREFIX = 15 - 2 - 6


def bridge_prefix(raw: str, tunnel: str) -> str:
    """``bridge_prefix``, short enough, with a tunnel address, for its vxlan devices'
    names to keep the whole VNI (truncated, two networks' devices would collide)."""
    if tunnel and len(raw) > MAX_TUNNEL_BRIDGE_PREFIX:
        raise ConfigError(f"[{opts.GROUP}] bridge_prefix: {raw!r} is longer than "
                          f"{MAX_TUNNEL_BRIDGE_PREFIX} characters, too long with a "
                          f"tunnel_address (vxlan device names would collide)")
    return raw


def from_conf(conf: cfg.ConfigOpts, base: common.Settings) -> ComputeSettings:
    c = getattr(conf, opts.GROUP)
    return ComputeSettings(
        host=base.network.host,
        bind_host=c.bind_host,
        bind_port=c.bind_port,
        network_url=c.network_url,
        availability_zone=c.availability_zone,
        quota_instances=c.quota_instances,
        quota_instances_overrides=quota_overrides(c.quota_instances_overrides),
        host_capacity=c.host_capacity,
        agent_workers=c.agent_workers,
        netns_prefix=c.netns_prefix,
        bridge_prefix=bridge_prefix(c.bridge_prefix, tunnel_address(c.tunnel_address)),
        appliance_netns_prefix=c.appliance_netns_prefix,
        management_network=c.management_network,
        management_host_address=c.management_host_address,
        tunnel_address=tunnel_address(c.tunnel_address),
        management_address_host=(holders := management_address_host(
            c.management_address_host, c.tunnel_address)),
        management_metadata_address=management_metadata_address(
            c.management_metadata_address, holders, c.management_host_address),
        metadata_secret=c.metadata_secret,
        metadata_bind_host=c.metadata_bind_host,
        metadata_port=c.metadata_port,
        metrics_bind_host=c.metrics_bind_host,
        agent_metrics_port=c.agent_metrics_port,
        dispatcher_metrics_port=c.dispatcher_metrics_port,
        reconcile_interval=c.reconcile_interval,
        reconcile_fix=frozenset(c.reconcile_fix),
        heartbeat_interval=c.heartbeat_interval,
        agent_down_time=c.agent_down_time,
        dispatcher_max_attempts=c.dispatcher_max_attempts,
        dispatcher_retry_delay=c.dispatcher_retry_delay,
        state_dir=base.state_path / "compute",
    )


def defaults(base: common.Settings | None = None) -> ComputeSettings:
    """The settings an empty configuration gives (host and state from ``base``)."""
    conf = common.default_conf({opts.GROUP: opts.compute_opts})
    return from_conf(conf, base or common.from_conf(conf))


def default_retry_policy() -> RetryPolicy:
    """The dispatcher's retry policy an empty configuration gives."""
    return retry_policy(defaults())


def load(argv: list[str] | None, prog: str, cli_opts: list | None = None) -> tuple[
    cfg.ConfigOpts, common.Settings, ComputeSettings
]:
    """Parse ini files and the command line; return raw conf, common and compute settings."""
    conf = cfg.ConfigOpts()
    common_opts.register(conf)
    opts.register(conf)
    conf.register_cli_opts(
        [cfg.StrOpt("state-path", dest="state_path_cli", help="Override [DEFAULT] state_path.")]
    )
    if cli_opts:
        conf.register_cli_opts(cli_opts)
    env_files = [f for f in os.environ.get("ASTARA_CONFIG_FILES", "").split(":") if f]
    conf(args=argv, project="astara", prog=prog, default_config_files=env_files,
         default_config_dirs=[])
    if conf.state_path_cli:
        conf.set_override("state_path", conf.state_path_cli)
    note_operator_paths([conf.state_path, *(conf.config_file or [])])
    base = common.from_conf(conf)
    return conf, base, from_conf(conf, base)
