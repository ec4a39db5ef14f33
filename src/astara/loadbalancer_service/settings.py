"""Typed settings of the load-balancer service, resolved once at its entry point.

``load(argv, prog)`` parses the common and load-balancer options and returns the
common ``Settings`` plus a frozen ``LoadBalancerSettings``; nothing below the entry
point reads oslo.config.
"""

from __future__ import annotations

from dataclasses import dataclass

from oslo_config import cfg

from astara.common import settings as common
from astara.loadbalancer_service import opts


@dataclass(frozen=True)
class LoadBalancerSettings:
    host: str
    bind_host: str
    bind_port: int
    network_url: str
    max_page_size: int
    quotas: tuple[tuple[str, int], ...]  # default quota by kind
    neutron_lbaasv2: bool = False  # the network API serves /v2.0/lbaas/... too

    def quota(self, kind: str) -> int:
        return dict(self.quotas).get(kind, -1)


def from_conf(conf: cfg.ConfigOpts, base: common.Settings) -> LoadBalancerSettings:
    c = getattr(conf, opts.GROUP)
    return LoadBalancerSettings(
        host=base.network.host,
        bind_host=c.bind_host,
        bind_port=c.bind_port,
        network_url=c.network_url,
        max_page_size=c.pagination_max_limit,
        quotas=tuple((k, getattr(c, f"default_{k}_quota")) for k in opts.QUOTA_KINDS),
        neutron_lbaasv2=c.neutron_lbaasv2,
    )


def defaults(base: common.Settings) -> LoadBalancerSettings:
    """What an empty configuration gives (tests and tools start there)."""
    conf = common.default_conf({opts.GROUP: opts.loadbalancer_opts})
    return from_conf(conf, base)


def load(argv: list[str] | None, prog: str,
         cli_opts: list | None = None) -> tuple[cfg.ConfigOpts, common.Settings,
                                                LoadBalancerSettings]:
    conf, base = common.load(argv, prog, cli_opts, groups={opts.GROUP: opts.loadbalancer_opts})
    return conf, base, from_conf(conf, base)
