"""oslo.config options of the load-balancer service (group ``loadbalancer_service``).

``settings.from_conf`` turns them into ``LoadBalancerSettings``; ``list_opts``
feeds oslo-config-generator.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loadbalancer_service"

QUOTA_KINDS = ("loadbalancer", "listener", "pool", "member", "healthmonitor", "l7policy",
               "l7rule")

loadbalancer_opts = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1",
                       help="Address the load-balancer API (Octavia v2-compatible) listens on."),
    cfg.PortOpt("bind_port", default=9876, help="Port the load-balancer API listens on."),
    cfg.URIOpt("network_url", default="http://127.0.0.1:9696/",
               help="Root URL of the network service (Neutron v2.0-compatible API), where "
                    "VIP ports are made with the caller's identity."),
    cfg.BoolOpt("neutron_lbaasv2", default=False,
                help="The network API (astara-network-api) also serves these load "
                     "balancers on Neutron LBaaS v2's paths (/v2.0/lbaas/...) and lists the "
                     "lbaasv2 extension. On in astara-aio unless set."),
    cfg.IntOpt("pagination_max_limit", default=1000, min=1,
               help="Most items one page of a list answers (Octavia's option)."),
    *[cfg.IntOpt(f"default_{kind}_quota", default=-1, min=-1,
                 help=f"Default {kind} quota of a project (-1: unlimited).")
      for kind in QUOTA_KINDS],
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(loadbalancer_opts, group=GROUP)


def list_opts():
    return [(GROUP, loadbalancer_opts)]
