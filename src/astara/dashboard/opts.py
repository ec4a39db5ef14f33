"""oslo.config options of the dashboard (group ``dashboard``).

``settings.from_conf`` turns them into ``DashboardSettings``; ``list_opts`` feeds
oslo-config-generator.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "dashboard"

dashboard_opts = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1",
                       help="Address the dashboard (astara-dashboard) listens on."),
    cfg.PortOpt("bind_port", default=8080, help="Port the dashboard listens on."),
    cfg.URIOpt("network_url", default="http://127.0.0.1:9696/",
               help="Root URL of the network API (Neutron v2.0-compatible)."),
    cfg.URIOpt("compute_url", default="http://127.0.0.1:8774/",
               help="Root URL of the compute API (Nova v2.1-compatible)."),
    cfg.URIOpt("loadbalancer_url", default="http://127.0.0.1:9876/",
               help="Root URL of the load-balancer API (Octavia v2-compatible)."),
    cfg.URIOpt("rpc_url", default="http://127.0.0.1:44250/",
               help="Root URL of the orchestrator's RPC API (the admin pages)."),
    cfg.StrOpt("rpc_auth_token_file", default="$state_path/rpc_auth_token",
               help="File holding the orchestrator's RPC token, sent only for sessions "
                    "logged in with the admin role."),
    cfg.StrOpt("session_secret_file", default="$state_path/dashboard_session_secret",
               help="File holding the key that signs session cookies and CSRF tokens "
                    "(created 0600 on first start when missing)."),
    cfg.StrOpt("admin_password_file", default="$state_path/dashboard_admin_password",
               help="File holding the password the login page asks for the admin role "
                    "(astara-aio creates it 0600). Missing or empty: no admin login."),
    cfg.ListOpt("allowed_hosts", default=[],
                help="Host names (the Host header) the dashboard answers besides "
                     "bind_host, localhost and 127.0.0.1: the names a reverse proxy "
                     "forwards. Any other Host is refused (DNS rebinding)."),
    cfg.StrOpt("public_origin", default="",
               help="The origin users' browsers see (e.g. https://dash.example) when a "
                    "reverse proxy serves the dashboard: a login must come from it. "
                    "Empty: the origin of the request's own Host."),
    cfg.StrOpt("auth_strategy", choices=["noauth", "keystone"],
               help="How users log in (unset: as [DEFAULT] auth_strategy). noauth: the "
                    "login page picks a project and a role (as the APIs' noauth mode "
                    "trusts their headers); keystone: a Keystone user name, password, "
                    "project and domain, and the APIs get the user's token."),
    cfg.StrOpt("keystone_url", default="",
               help="Keystone's URL for logins under auth_strategy = keystone (e.g. "
                    "http://127.0.0.1:5000/v3). Empty: [keystone_authtoken] "
                    "www_authenticate_uri, else its auth_url."),
    cfg.IntOpt("session_max_age", default=8 * 3600, min=60,
               help="Seconds a login lasts."),
    cfg.FloatOpt("api_timeout", default=15.0, min=0.5,
                 help="Seconds the dashboard waits for one API call."),
    cfg.IntOpt("refresh_seconds", default=2, min=1,
               help="How often open pages poll for status and the topology."),
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(dashboard_opts, group=GROUP)


def list_opts():
    return [(GROUP, dashboard_opts)]
