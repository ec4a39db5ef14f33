"""Every oslo.config option Astara reads, grouped per service.

Entry points register these on a ConfigOpts, parse ini files and the command
line, then turn the values into typed settings (see ``settings.py``); business
logic never reads options itself. ``list_opts`` feeds oslo-config-generator.
"""

from oslo_config import cfg

DEFAULT_STATE_PATH = "/var/lib/astara"

default_opts = [
    cfg.StrOpt(
        "state_path",
        default=DEFAULT_STATE_PATH,
        help="Directory holding Astara's state: the embedded SQLite database and the "
        "bus wake-up sockets.",
    ),
    cfg.StrOpt("host", default="", help="Name of this host in notifications; default: hostname."),
    cfg.BoolOpt("debug", default=False, help="Log at DEBUG level."),
    cfg.StrOpt(
        "auth_strategy",
        default="noauth",
        choices=["noauth", "keystone"],
        help="How the network, compute and load-balancer APIs know who calls: noauth "
        "(the X-Project-Id and X-Roles headers, trusted: an all-in-one's loopback) or "
        "keystone (a token validated by keystonemiddleware's auth_token, configured in "
        "[keystone_authtoken]; identity headers a client sends are ignored).",
    ),
]

database_opts = [
    cfg.StrOpt(
        "connection",
        default="",
        secret=True,
        help="SQLAlchemy URL of the database, e.g. postgresql+psycopg://u:p@127.0.0.1/astara. "
        "Empty: an embedded SQLite database at $state_path/astara.sqlite.",
    ),
    cfg.BoolOpt(
        "auto_migrate",
        default=True,
        help="Upgrade the schema to the latest revision when a service starts "
        "(astara-dbsync does the same explicitly).",
    ),
]

network_service_opts = [
    cfg.HostAddressOpt(
        "bind_host", default="127.0.0.1", help="Address the network API listens on."
    ),
    cfg.PortOpt("bind_port", default=9696, help="Port the network API listens on."),
    cfg.IntOpt("global_physnet_mtu", default=1500, min=68, help="MTU given to new networks."),
    cfg.StrOpt(
        "base_mac",
        default="fa:16:3e:00:00:00",
        help="Base MAC address; the last three octets of generated MACs are random.",
    ),
    cfg.IntOpt(
        "max_page_size",
        default=1000,
        min=1,
        help="Largest page a list request may return when it asks for a limit.",
    ),
    cfg.IntOpt(
        "workers",
        default=0,
        min=0,
        help="API worker processes serving the network API on one listening socket "
        "(writes still commit one at a time on SQLite). 0: one per CPU core.",
    ),
    cfg.StrOpt(
        "nova_url",
        default="",
        help="Compute API (Nova v2.1) endpoint told of instance ports going ACTIVE or DOWN "
        "(network-vif-plugged/-unplugged external events, best effort). Empty: no events "
        "sent. astara-aio sets it to its compute API.",
    ),
    cfg.StrOpt(
        "nova_project_id",
        default="astara-service",
        help="Project the network service acts as, with the admin role, when it sends "
        "those events.",
    ),
]

bus_opts = [
    cfg.StrOpt(
        "transport",
        default="outbox",
        choices=["outbox", "amqp"],
        help="How notifications travel: 'outbox' stores them in the database in the "
        "same transaction as the change that caused them; 'amqp' also relays them, in "
        "order, to RabbitMQ ([DEFAULT] transport_url) as Neutron and Nova publish "
        "theirs, and the orchestrator listens there (exchange neutron, topic "
        "notifications, pool astara.notifications.<host>).",
    ),
    cfg.FloatOpt(
        "max_idle_wait",
        default=5.0,
        min=0.05,
        help="Longest a consumer sleeps without a wake-up before it looks again "
        "(a safety net: publishers wake consumers at once).",
    ),
    cfg.FloatOpt(
        "outbox_retention",
        default=3600.0,
        min=0.0,
        help="Seconds a notification stays in the outbox after every consumer has read "
        "it (so a consumer that has not started yet still finds it); older ones are "
        "pruned every minute.",
    ),
]

def _groups() -> dict:
    # Services above this layer (compute, orchestrator) own their options and
    # register them at their entry points; oslo-config-generator lists each namespace.
    return {
        "DEFAULT": default_opts,
        "database": database_opts,
        "network_service": network_service_opts,
        "bus": bus_opts,
    }


def register(conf: cfg.ConfigOpts) -> None:
    for group, opts in _groups().items():
        conf.register_opts(opts, group=None if group == "DEFAULT" else group)


def list_opts():
    return [(None if g == "DEFAULT" else g, opts) for g, opts in _groups().items()]
