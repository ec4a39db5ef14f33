"""The dashboard's typed settings, resolved once at the entry point and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from oslo_config import cfg

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
    auth_strategy: str = "noauth"
    keystone_url: str = ""


def authtoken_url(config_files: tuple[str, ...]) -> str:
    """``[keystone_authtoken] www_authenticate_uri`` (else ``auth_url``) of the files the
    dashboard was started with: where the APIs' users authenticate."""
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("www_authenticate_uri"), cfg.StrOpt("auth_url")],
                       group="keystone_authtoken")
    conf(args=[], default_config_files=list(config_files), use_env=False)
    group = conf.keystone_authtoken
    return group.www_authenticate_uri or group.auth_url or ""


def from_conf(conf) -> DashboardSettings:
    g = conf[opts.GROUP]
    values = {k: getattr(g, k) for k in DashboardSettings.__dataclass_fields__}
    values["allowed_hosts"] = tuple(values["allowed_hosts"] or ())
    values["auth_strategy"] = values["auth_strategy"] or conf.auth_strategy
    if values["auth_strategy"] == "keystone" and not values["keystone_url"]:
        values["keystone_url"] = authtoken_url(settings_mod.config_files_of(conf))
    return DashboardSettings(**values)


def load(argv: list[str], prog: str):
    conf, base = settings_mod.load(argv, prog=prog, groups={opts.GROUP: opts.dashboard_opts})
    return conf, base, from_conf(conf)
