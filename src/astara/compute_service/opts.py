"""oslo.config options of the compute service (group ``compute_service``).

Entry points register them next to the common options (``astara.common.opts``) and
turn them into ``ComputeSettings`` with ``settings.from_conf``; ``list_opts`` feeds
oslo-config-generator.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "compute_service"

compute_opts = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1",
                       help="Address the compute API listens on."),
    cfg.PortOpt("bind_port", default=8774, help="Port the compute API listens on."),
    cfg.URIOpt("network_url", default="http://127.0.0.1:9696/",
               help="Root URL of the network service (Neutron v2.0-compatible API)."),
    cfg.StrOpt("availability_zone", default="nova", help="Availability zone of this host."),
    cfg.IntOpt("quota_instances", default=10, min=0, help="Instances a project may own."),
    cfg.DictOpt("quota_instances_overrides", default={"astara-service": "-1"},
                help="Per-project instance quota, project:limit (-1: unlimited). The "
                "orchestrator's service project boots one appliance per router."),
    cfg.IntOpt("host_capacity", default=200, min=0,
               help="Instances the agent of this host accepts (recorded in compute_hosts)."),
    cfg.IntOpt("agent_workers", default=8, min=1,
               help="Jobs the agent of this host runs at the same time (different instances)."),
    cfg.StrOpt("netns_prefix", default="astara-vm-",
               help="Prefix of the namespaces the agent creates: the label reconcile trusts."),
    cfg.StrOpt("appliance_netns_prefix", default="astara-appliance-",
               help="Prefix of the namespaces of instances booted from the appliance image "
                    "(what astara-appliance-agent --mode host watches)."),
    cfg.StrOpt("management_network", default="astara-mgmt",
               help="Name or id of the appliances' management network: its bridge gets "
                    "management_host_address. By name, only a network of the appliance's "
                    "own project (the orchestrator's service project) counts."),
    cfg.StrOpt("management_host_address", default="fdca:3ba5:a17a:acda::1/64",
               help="This host's address (with prefix length) on the management network's "
                    "bridge: the only address the compute agent sets on the host."),
    cfg.StrOpt("tunnel_address", default="",
               help="This host's address on the underlay (IPv4 or IPv6, no prefix length): "
                    "each network's bridge gets a VXLAN device (one VNI per network, "
                    "UDP 4789) flooding to the other live hosts with ports on that "
                    "network, and the network's instance links lose the encapsulation's "
                    "50 bytes (70 over IPv6) of MTU. Empty: networks stay on this host "
                    "(no VXLAN device). The management network is tunnelled only with "
                    "management_address_host."),
    cfg.StrOpt("management_address_host", default="",
               help="With a tunnel_address: the names of the compute hosts (comma-"
                    "separated; the same value on every host) whose management bridge "
                    "holds their own management_host_address (the hosts running an "
                    "orchestrator; each a distinct address, outside the management "
                    "subnet's allocation pool: below ::10). The management network is "
                    "then carried between hosts by VXLAN like a tenant network, every "
                    "holder is a peer of it on every host, and an appliance on any host "
                    "reaches every live holder's address. Empty: every host holds the "
                    "address on a management bridge of its own, not tunnelled."),
    cfg.StrOpt("management_metadata_address", default="",
               help="With management_address_host: an address (no prefix length) every "
                    "holder also puts on its management bridge, the metadata address "
                    "[orchestrator] metadata_address names; each appliance reaches it "
                    "through one live holder (its own host if a holder, else the first "
                    "live holder by name), moved when that holder stops beating. Of the "
                    "family of management_host_address, not equal to it, below the "
                    "appliances' pool (::10) of its prefix. Empty: none."),
    cfg.StrOpt("bridge_prefix", default="brq",
               help="Prefix of per-network bridges (prefix + start of the network id); "
                    "at most 7 characters with a tunnel_address (vxlan device names)."),
    cfg.StrOpt("metadata_secret", default="", secret=True,
               help="Shared secret proxies sign X-Instance-ID with (HMAC-SHA256)."),
    cfg.HostAddressOpt("metadata_bind_host", default="127.0.0.1",
                       help="Address the metadata service listens on."),
    cfg.PortOpt("metadata_port", default=8775, help="Port the metadata service listens on."),
    cfg.HostAddressOpt("metrics_bind_host", default="127.0.0.1",
                       help="Address the agent's and the dispatcher's Prometheus listeners "
                            "bind (they have no API of their own to serve /metrics on)."),
    cfg.IntOpt("agent_metrics_port", default=0, min=0, max=65535,
               help="Port of astara-compute-agent's Prometheus listener (0: none)."),
    cfg.IntOpt("dispatcher_metrics_port", default=0, min=0, max=65535,
               help="Port of astara-compute-dispatcher's Prometheus listener (0: none)."),
    cfg.FloatOpt("reconcile_interval", default=60.0, min=0.0,
                 help="Seconds between the agent's light reconciles of this host (0: "
                      "never; astara-compute-manage reconcile-servers still works)."),
    cfg.ListOpt("reconcile_fix", default=["stale", "unsynced", "pending", "ports",
                                          "processes"],
                item_type=cfg.types.String(
                    choices=["stale", "orphans", "unsynced", "pending", "ports",
                             "processes"]),
                help="What the periodic reconcile repairs by itself; it only logs the "
                     "other kinds. Orphans (namespaces no database row owns) are left to "
                     "the operator by default: reconcile-servers --fix-orphans."),
    cfg.FloatOpt("heartbeat_interval", default=10.0, min=0.5,
                 help="Seconds between the agent's heartbeats in compute_hosts."),
    cfg.FloatOpt("agent_down_time", default=60.0, min=1.0,
                 help="A host whose agent has not beaten for this many seconds gets no new "
                      "instance (its agent is taken for dead)."),
    cfg.IntOpt("dispatcher_max_attempts", default=5, min=1,
               help="Times the dispatcher tries an agent event whose handling fails before "
                    "it goes to the dead letters (astara-compute-manage queue-inspect)."),
    cfg.FloatOpt("dispatcher_retry_delay", default=0.5, min=0.0,
                 help="Seconds before the dispatcher tries a failed event again, or restarts "
                      "after a failure of its own; doubles each time, up to 30 s."),
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(compute_opts, group=GROUP)


def list_opts():
    return [(GROUP, compute_opts)]
