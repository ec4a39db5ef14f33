"""Typed settings resolved once at an entry point and passed in explicitly.

``load(argv)`` parses ``--config-file`` (repeatable) and the command line with
oslo.config and returns plain frozen dataclasses; nothing below the entry
points looks at oslo.config. The dataclasses have no defaults of their own: an
option's default is written once, in its oslo.config option, and ``defaults()``
builds the settings an empty configuration gives (tests and tools start there).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from oslo_config import cfg

from astara.common import opts
from astara.common.entry import ConfigError, note_operator_paths


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    auto_migrate: bool


@dataclass(frozen=True)
class BusSettings:
    transport: str  # "outbox" or "amqp"
    wakeup_dir: Path
    max_idle_wait: float
    outbox_retention: float


@dataclass(frozen=True)
class NetworkServiceSettings:
    bind_host: str
    bind_port: int
    global_physnet_mtu: int
    base_mac: str
    max_page_size: int
    host: str
    workers: int  # API processes; [network_service] workers = 0 resolved to the core count
    nova_url: str  # where port status changes are told as external events; "" none
    nova_project_id: str


@dataclass(frozen=True)
class AuthSettings:
    strategy: str  # "noauth" or "keystone"
    # Where [keystone_authtoken] is read from (keystonemiddleware reads its own options).
    config_files: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    state_path: Path
    debug: bool
    database: DatabaseSettings
    bus: BusSettings
    network: NetworkServiceSettings
    auth: AuthSettings


def sqlite_url(state_path: Path) -> str:
    return f"sqlite:///{state_path / 'astara.sqlite'}"


def sqlite_file_of(url: str) -> Path | None:
    """The file a SQLite URL names (None: not SQLite, or in memory)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def database_url(connection: str, state: Path) -> str:
    """The configured URL, else the embedded SQLite file in the state path.

    A SQLite file the operator named must be in a directory that exists: a typo in
    its path would otherwise silently start an empty database somewhere else.
    """
    if not connection:
        return sqlite_url(state)
    path = sqlite_file_of(connection)
    if path is not None and not path.parent.is_dir():
        raise ConfigError(f"[database] connection: directory {path.parent} does not exist "
                          f"(create it, or fix the path of the SQLite file)")
    return connection


def config_files_of(conf: cfg.ConfigOpts) -> tuple[str, ...]:
    """The files ``conf`` was read from, for the loaders that read their own sections
    again (auth_token, keystoneauth): the ``--config-file``s, then each
    ``--config-dir``'s ``*.conf`` in sorted order, as oslo.config reads them."""
    files = list(getattr(conf, "config_file", None) or ())
    dirs = getattr(conf, "config_dir", None) or ()
    for directory in [dirs] if isinstance(dirs, str) else dirs:
        files += sorted(str(p) for p in Path(directory).expanduser().glob("*.conf"))
    return tuple(files)


def from_conf(conf: cfg.ConfigOpts) -> Settings:
    state = Path(conf.state_path)
    host = conf.host or socket.gethostname()
    ns = conf.network_service
    return Settings(
        state_path=state,
        debug=conf.debug,
        database=DatabaseSettings(
            url=database_url(conf.database.connection, state),
            auto_migrate=conf.database.auto_migrate,
        ),
        bus=BusSettings(transport=conf.bus.transport, wakeup_dir=state / "bus",
                        max_idle_wait=conf.bus.max_idle_wait,
                        outbox_retention=conf.bus.outbox_retention),
        network=NetworkServiceSettings(
            bind_host=ns.bind_host,
            bind_port=ns.bind_port,
            global_physnet_mtu=ns.global_physnet_mtu,
            base_mac=ns.base_mac,
            max_page_size=ns.max_page_size,
            host=host,
            workers=ns.workers or os.cpu_count() or 1,
            nova_url=ns.nova_url,
            nova_project_id=ns.nova_project_id,
        ),
        auth=AuthSettings(strategy=conf.auth_strategy,
                          config_files=config_files_of(conf)),
    )


def default_conf(groups: dict[str, list] | None = None) -> cfg.ConfigOpts:
    """The common options (and ``groups``) with nothing set: every value is its default."""
    conf = cfg.ConfigOpts()
    opts.register(conf)
    for group, group_opts in (groups or {}).items():
        conf.register_opts(group_opts, group=None if group == "DEFAULT" else group)
    conf(args=[], default_config_files=[], default_config_dirs=[])
    return conf


def defaults(state_path: Path | None = None) -> Settings:
    """The settings an empty configuration gives (``state_path`` overridden if given)."""
    conf = default_conf()
    if state_path is not None:
        conf.set_override("state_path", str(state_path))
    return from_conf(conf)


def load(argv: list[str] | None, prog: str, cli_opts: list | None = None,
         groups: dict[str, list] | None = None) -> tuple[cfg.ConfigOpts, Settings]:
    """Parse the command line and ini files; return the raw conf and the settings.

    ``groups`` adds the option groups of the service being started.
    """
    conf = cfg.ConfigOpts()
    opts.register(conf)
    for group, group_opts in (groups or {}).items():
        conf.register_opts(group_opts, group=None if group == "DEFAULT" else group)
    conf.register_cli_opts(
        [cfg.StrOpt("state-path", dest="state_path_cli", help="Override [DEFAULT] state_path.")]
    )
    if cli_opts:
        conf.register_cli_opts(cli_opts)
    env_files = [f for f in os.environ.get("ASTARA_CONFIG_FILES", "").split(":") if f]
    conf(
        args=argv,
        project="astara",
        prog=prog,
        default_config_files=env_files or [],
        default_config_dirs=[],
    )
    if conf.state_path_cli:
        conf.set_override("state_path", conf.state_path_cli)
    note_operator_paths([conf.state_path, *(conf.config_file or [])])
    return conf, from_conf(conf)
