"""The dashboard's typed settings, resolved once at the entry point and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from astara.common import settings as settings_mod
from astara.dashboard import opts


@dataclass(frozen=True)
class DashboardSettings:
    bind_host: str = "127.0.0.1"
    bind_port: int = 8080
    network_url: str = "http://127.0.0.1:9696/"
    compute_url: str = "http://127.0.0.1:8774/"
    loadbalancer_url: str = "http://127.0.0.1:9876/"
    rpc_url: str = "http://127.0.0.1:44250/"
    rpc_auth_token_file: str = ""
    session_secret_file: str = ""
    admin_password_file: str = ""
    allowed_hosts: tuple[str, ...] = ()
    public_origin: str = ""
    session_max_age: int = 8 * 3600
    api_timeout: float = 15.0
    refresh_seconds: int = 2


def from_conf(conf) -> DashboardSettings:
    g = conf[opts.GROUP]
    values = {k: getattr(g, k) for k in DashboardSettings.__dataclass_fields__}
    values["allowed_hosts"] = tuple(values["allowed_hosts"] or ())
    return DashboardSettings(**values)


def load(argv: list[str], prog: str):
    conf, base = settings_mod.load(argv, prog=prog, groups={opts.GROUP: opts.dashboard_opts})
    return conf, base, from_conf(conf)
