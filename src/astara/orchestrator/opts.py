"""Options of the ``[orchestrator]`` group and the typed settings built from them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from oslo_config import cfg

from astara.common.entry import ConfigError
from astara.common.settings import config_files_of, default_conf
from astara.orchestrator import addresses
from astara.orchestrator.cluster import settings as cluster_settings
from astara.orchestrator.drivers import registry
from astara.orchestrator.reconcile import model
from astara.orchestrator.reconcile.breaker import BreakerSettings
from astara.orchestrator.reconcile.observe import ManagementSettings

GROUP = "orchestrator"
SERVICE_USER = "astara-orchestrator"  # the X-User-Id the orchestrator's own calls carry

OPTS = [
    cfg.ListOpt("rpc_hosts", default=["127.0.0.1", "::1"],
                help="Addresses the RPC API listens on (IPv4 and IPv6)."),
    cfg.PortOpt("rpc_port", default=44250, help="Port of the orchestrator's RPC API."),
    cfg.StrOpt("rpc_auth_token_file", default="$state_path/rpc_auth_token",
               help="File holding the token every RPC API caller must send in "
               "X-Auth-Token (astara-ctl reads it too). Must exist, be non-empty and be "
               "readable by its owner only (mode 0600)."),
    cfg.StrOpt("appliance_auth_key_file", default="$state_path/appliance_auth_key",
               help="File holding the deployment key: each appliance's API secret is "
               "HMAC-SHA256(key, appliance instance id). The appliance agent in host "
               "mode reads the same file. Mode 0600, non-empty."),
    cfg.IntOpt("num_worker_processes", default=0, min=0,
               help="Worker processes that reconcile routers; 0 means one per CPU core."),
    cfg.IntOpt("num_worker_threads", default=8, min=1,
               help="Routers one worker process reconciles at the same time."),
    cfg.FloatOpt("health_check_period", default=60.0, min=1.0,
                 help="Seconds between two health checks of a configured router."),
    cfg.FloatOpt("boot_timeout", default=120.0, min=1.0,
                 help="Seconds an appliance has to answer once the compute service "
                      "reports its instance ACTIVE."),
    cfg.FloatOpt("build_timeout", default=600.0, min=1.0,
                 help="Seconds the compute service may take to build an appliance's "
                      "instance (status BUILD) before it is replaced: a busy compute "
                      "host queues boots, and replacing them only adds to its queue."),
    cfg.IntOpt("reboot_error_threshold", default=3, min=1,
               help="Failed boots in a row after which a router goes to ERROR."),
    cfg.FloatOpt("error_cooldown", default=60.0, min=1.0,
                 help="Seconds a router stays in ERROR before it is retried (doubles on "
                 "each new error, up to an hour)."),
    cfg.IntOpt("appliance_failure_threshold", default=3, min=1,
               help="Failed status calls (one per look) after which a working appliance "
               "may be replaced; the looks are spread over appliance_failure_period."),
    cfg.FloatOpt("appliance_failure_period", default=10.0, min=0.0,
                 help="Seconds the failed status calls must span before a working "
                 "appliance is replaced. It is never replaced while its instance is ACTIVE "
                 "and it still answers on its management address."),
    cfg.FloatOpt("rebuild_breaker_failure_share", default=0.5, min=0.0, max=1.0,
                 help="Rebuild breaker: when more than this share of the working appliances "
                 "checked within rebuild_window fail their status calls (their latest call "
                 "each), the orchestrator suspects its own path to them (the host's "
                 "neighbour table, the management network) and replaces none of them for "
                 "failing status calls until the checks answer again."),
    cfg.IntOpt("rebuild_breaker_min_samples", default=10, min=1,
               help="Rebuild breaker: appliances that must have been checked within "
               "rebuild_window before their failures can open it."),
    cfg.FloatOpt("rebuild_budget_share", default=0.1, min=0.0, max=1.0,
                 help="At most this share of the routers have their appliance replaced "
                 "automatically within rebuild_window (at least rebuild_budget_min); the "
                 "others wait for room. An operator's `astara-ctl router rebuild` always "
                 "goes through."),
    cfg.IntOpt("rebuild_budget_min", default=1, min=1,
               help="Automatic rebuilds always allowed within rebuild_window, whatever "
               "the share."),
    cfg.FloatOpt("rebuild_window", default=300.0, min=1.0,
                 help="Seconds over which the rebuild breaker counts status checks and "
                 "rebuilds."),
    cfg.URIOpt("network_url", default="http://127.0.0.1:9696/",
               help="Network API (Neutron v2.0) endpoint."),
    cfg.URIOpt("compute_url", default="http://127.0.0.1:8774/",
               help="Compute API (Nova v2.1) endpoint."),
    cfg.URIOpt("loadbalancer_url", default="http://127.0.0.1:9876/",
               help="Load-balancer API (astara-loadbalancer-api) endpoint, used when the "
               "loadbalancer driver is enabled."),
    cfg.StrOpt("service_project_id", default="astara-service",
               help="Project the orchestrator acts as (with the admin role)."),
    cfg.StrOpt("management_network_name", default="astara-mgmt",
               help="Network the appliances' management ports are on (created if missing)."),
    cfg.StrOpt("management_prefix", default="fdca:3ba5:a17a:acda::/64",
               help="Subnet of the management network."),
    cfg.StrOpt("management_address", default="fdca:3ba5:a17a:acda::1",
               help="This orchestrator's address on the management network: its "
               "machine's own. When metadata_address is another address, every call "
               "to an appliance is bound to this one as its source."),
    cfg.StrOpt("metadata_address", default="",
               help="The address every appliance's configuration names for the "
               "orchestrator's metadata proxy, which listens on it. Empty: "
               "management_address (one machine). Orchestrators on several machines "
               "each keep their own management_address and all set this one to one "
               "shared address (the compute agents' management_metadata_address): an "
               "appliance adopted by another member then keeps its configuration (no "
               "push). Every member must set the same value."),
    cfg.PortOpt("metadata_port", default=9697,
                help="Port of the orchestrator's metadata proxy on the management network."),
    cfg.PortOpt("appliance_port", default=5000, help="Port of the appliance agent's API."),
    cfg.URIOpt("metadata_url", default="http://127.0.0.1:8775/",
               help="The compute service's metadata API, where instances' requests go."),
    cfg.StrOpt("metadata_proxy_shared_secret", default="", secret=True,
               help="Secret shared with the compute metadata API to sign instance ids "
               "(its [compute_service] metadata_secret). Empty: the proxy is off."),
    cfg.StrOpt("appliance_image", default="astara-appliance",
               help="Image (profile) appliances boot from."),
    cfg.StrOpt("appliance_flavor", default="astara.appliance",
               help="Flavor appliances boot with."),
]


# ``[DEFAULT]``, as Astara always named it.
DEFAULT_OPTS = [
    cfg.ListOpt("enabled_drivers", default=["router"],
                help="Resource kinds the orchestrator serves, one driver each: router, "
                "loadbalancer (e.g. 'router,loadbalancer')."),
    cfg.BoolOpt("enable_byonf", default=False,
                help="BYONF: boot a project's routers and load balancers from the image "
                "and flavor an admin gave that project (the network API's /v2.0/byonfs) "
                "instead of appliance_image/appliance_flavor. A change takes effect at "
                "the appliance's next boot (e.g. astara-ctl router rebuild)."),
]
GROUPS = {GROUP: OPTS, "DEFAULT": DEFAULT_OPTS,
          cluster_settings.GROUP: cluster_settings.OPTS}


@dataclass(frozen=True)
class OrchestratorSettings:
    """Every field comes from an option of ``OPTS`` (no defaults here: see ``defaults``)."""

    rpc_hosts: tuple[str, ...]
    rpc_port: int
    rpc_auth_token_file: str
    appliance_auth_key_file: str
    num_worker_processes: int
    num_worker_threads: int
    health_check_period: float
    boot_timeout: float
    build_timeout: float
    reboot_error_threshold: int
    error_cooldown: float
    appliance_failure_threshold: int
    appliance_failure_period: float
    rebuild_breaker_failure_share: float
    rebuild_breaker_min_samples: int
    rebuild_budget_share: float
    rebuild_budget_min: int
    rebuild_window: float
    network_url: str
    compute_url: str
    loadbalancer_url: str
    service_project_id: str
    management_network_name: str
    management_prefix: str
    management_address: str
    metadata_address: str
    metadata_port: int
    appliance_port: int
    metadata_url: str
    metadata_proxy_shared_secret: str
    appliance_image: str
    appliance_flavor: str
    enabled_drivers: tuple[str, ...]
    enable_byonf: bool
    # The files the [network], [compute] and [loadbalancer] auth sections are read from.
    config_files: tuple[str, ...]

    @property
    def service_headers(self) -> dict[str, str]:
        return {"X-Project-Id": self.service_project_id, "X-Roles": "admin",
                "X-User-Id": SERVICE_USER}


def enabled_drivers(names: list[str]) -> tuple[str, ...]:
    try:
        return registry.check(names)
    except ValueError as exc:
        raise ConfigError(f"[DEFAULT] enabled_drivers: {exc}") from None


def from_conf(conf: cfg.ConfigOpts) -> OrchestratorSettings:
    g = conf[GROUP]
    addresses.check(g.management_address, g.metadata_address)
    return OrchestratorSettings(
        rpc_hosts=tuple(g.rpc_hosts), rpc_port=g.rpc_port,
        num_worker_processes=g.num_worker_processes or os.cpu_count() or 1,
        enabled_drivers=enabled_drivers(conf.enabled_drivers),
        enable_byonf=conf.enable_byonf,
        config_files=config_files_of(conf),
        **{o.dest: g[o.dest] for o in OPTS if o.dest not in (
            "rpc_hosts", "rpc_port", "num_worker_processes")},
    )


def defaults() -> OrchestratorSettings:
    """The settings an empty configuration gives."""
    return from_conf(default_conf(GROUPS))


def plan_settings(o: OrchestratorSettings) -> model.Settings:
    """What the (pure) planner reads, from the options."""
    return model.Settings(boot_timeout=o.boot_timeout, build_timeout=o.build_timeout,
                          boot_check_interval=model.BOOT_CHECK_INTERVAL,
                          reboot_error_threshold=o.reboot_error_threshold,
                          error_cooldown=o.error_cooldown,
                          max_error_cooldown=model.MAX_ERROR_COOLDOWN,
                          health_check_period=o.health_check_period,
                          appliance_failure_threshold=o.appliance_failure_threshold,
                          appliance_failure_period=o.appliance_failure_period)


def breaker_settings(o: OrchestratorSettings) -> BreakerSettings:
    """What the rebuild breaker decides with, from the options."""
    return BreakerSettings(failure_share=o.rebuild_breaker_failure_share,
                           min_samples=o.rebuild_breaker_min_samples,
                           budget_share=o.rebuild_budget_share,
                           budget_min=o.rebuild_budget_min, window=o.rebuild_window)


def management_settings(o: OrchestratorSettings) -> ManagementSettings:
    """What the observer puts in each appliance's management section, from the options."""
    return ManagementSettings(metadata_address(o), o.metadata_port, o.management_prefix)


def metadata_address(o: OrchestratorSettings) -> str:
    """Where the metadata proxy listens, and what every appliance's document names."""
    return addresses.document_address(o.management_address, o.metadata_address)


def appliance_source(o: OrchestratorSettings) -> str | None:
    """The source address of the calls to the appliances (None: the kernel's choice)."""
    return addresses.appliance_source(o.management_address, o.metadata_address)


def plan_defaults() -> model.Settings:
    """The planner's settings an empty configuration gives."""
    return plan_settings(defaults())


def management_defaults() -> ManagementSettings:
    """The management settings an empty configuration gives."""
    return management_settings(defaults())


def list_opts():
    return [(None, DEFAULT_OPTS), (GROUP, OPTS),
            (cluster_settings.GROUP, cluster_settings.OPTS)]
