"""``astara-aio``: all of Astara on one Linux host, on the embedded defaults.

Starts, in order, and supervises: the network API, the load-balancer API, the
compute API (with its dispatcher), the compute metadata API, the compute agent
(instances as namespaces), the appliance agent in host mode, the orchestrator
(serving routers and load balancers unless ``[DEFAULT] enabled_drivers`` is set:
``aio-drivers.conf``) and the web dashboard (``[dashboard]``, 127.0.0.1:8080); each with
the same ``--config-file`` and ``--state-path`` (default: ``$ASTARA_STATE_PATH``, else
the ini files' ``state_path``), each logging to
``<state>/logs/<name>.log``. A service that dies is restarted (with back-off);
Ctrl-C or SIGTERM stops them all, in reverse order. Needs root (namespaces,
bridges). On first start it writes the control plane's credentials (the RPC
token, the appliance deployment key, the metadata secret, the dashboard's session
key and admin password) in the state
directory, 0600; state, logs and secrets are root's only (the state directory
is 0711: dnsmasq, unprivileged, must reach its files below it). The network API is
pointed at the compute API for Nova's external events (``aio-network.conf``).
``--compute-hosts N`` starts N compute agents, the second and later ones under the
host names ``<host>-2``, ... (``aio-compute-<n>.conf``): several compute hosts on one
machine, so that placement's anti-affinity (an HA router's pair) can be seen. They
share the machine's bridges and namespaces; each reconciles only its own instances.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from oslo_config import cfg
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.common.entry import one_line_errors
from astara.compute_service import opts as compute_opts
from astara.dashboard import opts as dash_opts
from astara.db import migrate
from astara.db.engine import Database
from astara.loadbalancer_service import opts as lb_opts
from astara.orchestrator import opts as orch_opts

LOG = logging.getLogger("astara-aio")
BIN = Path(sys.executable).parent
# How often the children are looked at: a dead one is restarted within this (its
# back-off counts from its own start, so one that ran long restarts at once).
WATCH_TICK = 0.1


@dataclass
class Child:
    name: str
    argv: list[str]
    port: tuple[str, int] | None = None
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started: float = 0.0
    log: object = field(default=None, repr=False)


def _wait_port(host: str, port: int, child: Child, timeout: float = 60.0) -> None:
    def connect() -> None:
        if child.proc is not None and child.proc.poll() is not None:
            raise SystemExit(f"astara-aio: {child.name} exited with {child.proc.returncode}; "
                             f"see its log")
        with socket.create_connection((host, port), timeout=0.5):
            pass

    try:
        Retrying(retry=retry_if_exception_type(OSError), stop=stop_after_delay(timeout),
                 wait=wait_fixed(0.1), reraise=True)(connect)
    except OSError:
        raise SystemExit(f"astara-aio: {child.name} did not listen on {host}:{port}") from None


def _start(child: Child, logdir: Path) -> None:
    if child.log is None:
        fd = os.open(logdir / f"{child.name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o600)
        child.log = open(fd, "a", buffering=1)  # noqa: SIM115
    child.proc = subprocess.Popen(child.argv, stdout=child.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    child.started = time.monotonic()
    LOG.info("%s started (pid %d)", child.name, child.proc.pid)


def _stop(children: list[Child]) -> None:
    for child in reversed(children):
        if child.proc is not None and child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    for child in reversed(children):
        if child.proc is None:
            continue
        try:
            child.proc.wait(20)
        except subprocess.TimeoutExpired:
            LOG.warning("%s did not stop: killing pid %d", child.name, child.proc.pid)
            child.proc.kill()
            child.proc.wait()


def _shared_secret(conf, state: Path) -> list[str]:
    """The metadata proxy and the metadata API must share a secret: make one if unset."""
    if conf[compute_opts.GROUP].metadata_secret or conf[orch_opts.GROUP] \
            .metadata_proxy_shared_secret:
        return []
    path = state / "aio-secrets.conf"
    if not path.exists():
        secret = secrets.token_hex(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"# Written by astara-aio: the metadata proxy's shared secret.\n"
                    f"[compute_service]\nmetadata_secret = {secret}\n"
                    f"[orchestrator]\nmetadata_proxy_shared_secret = {secret}\n")
    return ["--config-file", str(path)]


def local_url(host: str, port: int) -> str:
    """A URL reaching a service bound to ``host``:``port`` from this host."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _nova_url(conf, state: Path, compute_url: str) -> list[str]:
    """The network API tells the compute API of instance ports going ACTIVE (its
    ``[network_service] nova_url``), unless the operator's files name one."""
    if conf.network_service.nova_url:
        return []
    path = state / "aio-network.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"# Written by astara-aio at each start: where the network API sends "
                f"Nova's external events.\n[network_service]\nnova_url = {compute_url}\n")
    return ["--config-file", str(path)]


def _drivers(conf, state: Path) -> list[str]:
    """The all-in-one serves load balancers too, unless the operator's files name the
    drivers (then theirs stand, e.g. ``enabled_drivers = router``)."""
    if conf.get_location("enabled_drivers").location != cfg.Locations.opt_default:
        return []
    path = state / "aio-drivers.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Written by astara-aio at each start: the drivers the orchestrator runs "
                "(set [DEFAULT] enabled_drivers in your own file to choose).\n"
                "[DEFAULT]\nenabled_drivers = router,loadbalancer\n")
    return ["--config-file", str(path)]


def _lbaasv2(conf, state: Path) -> list[str]:
    """The all-in-one's network API serves the Neutron LBaaS v2 paths too, unless the
    operator's files set ``[loadbalancer_service] neutron_lbaasv2``."""
    where = conf.get_location("neutron_lbaasv2", lb_opts.GROUP)
    if where is not None and where.location != cfg.Locations.opt_default:
        return []
    path = state / "aio-lbaasv2.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Written by astara-aio at each start: the network API serves /v2.0/lbaas/ "
                "(set [loadbalancer_service] neutron_lbaasv2 in your own file to choose).\n"
                f"[{lb_opts.GROUP}]\nneutron_lbaasv2 = true\n")
    return ["--config-file", str(path)]


def _dashboard_urls(conf, state: Path, urls: dict[str, str]) -> list[str]:
    """The dashboard reaches this host's APIs where astara-aio runs them, and reads the
    orchestrator's RPC token where the orchestrator does, for each option (a URL or
    ``rpc_auth_token_file``) the operator's files leave unset."""
    unset = {k: v for k, v in urls.items() if conf.get_location(k, dash_opts.GROUP)
             .location == cfg.Locations.opt_default}
    if not unset:
        return []
    path = state / "aio-dashboard.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Written by astara-aio at each start: the APIs the dashboard calls and "
                "the orchestrator's RPC token file (set "
                f"them in [{dash_opts.GROUP}] in your own file to choose).\n"
                f"[{dash_opts.GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in unset.items()))
    return ["--config-file", str(path)]


def dashboard_options(net, comp, lb, o) -> dict[str, str]:
    """What the dashboard is told of the services astara-aio runs: their URLs, and the
    RPC token file the orchestrator checks (wherever the operator's files put it)."""
    return {"network_url": local_url(net.bind_host, net.bind_port),
            "compute_url": local_url(comp.bind_host, comp.bind_port),
            "loadbalancer_url": local_url(lb.bind_host, lb.bind_port),
            "rpc_url": local_url(o.rpc_hosts[0], o.rpc_port),
            "rpc_auth_token_file": o.rpc_auth_token_file}


def children_args(args: list[str]) -> list[str]:
    """``args`` without astara-aio's own options (its children do not know them)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--compute-hosts":
            skip = True
        elif not arg.startswith("--compute-hosts="):
            out.append(arg)
    return out


def compute_agents(conf, state: Path, count: int) -> list[tuple[str, list[str]]]:
    """(child name, extra arguments) of each compute agent: the first as configured, the
    others under ``<host>-<n>`` (their metrics listener off: one port, one agent)."""
    base = conf.host or socket.gethostname()
    out: list[tuple[str, list[str]]] = [("compute-agent", [])]
    for n in range(2, count + 1):
        path = state / f"aio-compute-{n}.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"# Written by astara-aio at each start (--compute-hosts): compute "
                    f"agent {n} of this machine.\n[DEFAULT]\nhost = {base}-{n}\n"
                    f"[{compute_opts.GROUP}]\nagent_metrics_port = 0\n")
        out.append((f"compute-agent-{n}", ["--config-file", str(path)]))
    return out


def _tighten_state(state: Path) -> None:
    """Make what an older release left readable to all its owner's only."""
    private.tighten(state / "logs", *(state / "logs").glob("*"), *state.glob("*.sqlite*"),
                    *state.glob("*.writelock"), state / "aio-secrets.conf", state / "bus",
                    state / "compute",
                    *state.glob("*.conf"))


def option_groups() -> dict[str, list]:
    """The option groups astara-aio reads itself (its children read their own)."""
    return {compute_opts.GROUP: compute_opts.list_opts()[0][1],
            lb_opts.GROUP: lb_opts.loadbalancer_opts, dash_opts.GROUP: dash_opts.dashboard_opts,
            **orch_opts.GROUPS}


def with_state_path(args: list[str], env: dict[str, str]) -> list[str]:
    """``args``, with ``--state-path $ASTARA_STATE_PATH`` when that is set and the
    command line names none (the command line wins, then the environment, then the
    ini files' ``state_path``)."""
    named = any(a == "--state-path" or a.startswith("--state-path=") for a in args)
    if named or not env.get("ASTARA_STATE_PATH"):
        return list(args)
    return [*args, "--state-path", env["ASTARA_STATE_PATH"]]


CLI_OPTS = [cfg.IntOpt("compute-hosts", dest="compute_hosts", default=1, min=1, max=8,
                       help="Compute agents to run on this machine, each its own compute "
                            "host (anti-affinity of HA routers' pairs needs two).")]


@one_line_errors("astara-aio")
def main(argv: list[str] | None = None) -> int:
    args = with_state_path(sys.argv[1:] if argv is None else argv, dict(os.environ))
    conf, settings = settings_mod.load(
        args, prog="astara-aio", cli_opts=CLI_OPTS,
        groups=option_groups())
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    if os.geteuid() != 0:
        raise SystemExit("astara-aio: run it as root (it creates namespaces and bridges)")
    state = settings.state_path
    logdir = state / "logs"
    logdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state.chmod(0o711)  # dnsmasq drops root and re-reads the appliances' files below
    _tighten_state(state)
    db = Database(settings.database.url)
    migrate.upgrade(db.engine)
    db.dispose()
    common = with_state_path(children_args(args), {"ASTARA_STATE_PATH": str(state)})
    common += _shared_secret(conf, state)
    o = orch_opts.from_conf(conf)
    try:
        private.ensure_secret(o.rpc_auth_token_file, "RPC auth token")
        private.ensure_secret(o.appliance_auth_key_file, "appliance deployment key")
        private.ensure_secret(conf[dash_opts.GROUP].session_secret_file,
                              "dashboard session secret")
        # The admin role's login asks for it: only who can read this host's state logs in
        # as admin (a local user or a web page alone cannot).
        private.ensure_secret(conf[dash_opts.GROUP].admin_password_file,
                              "dashboard admin password")
    except private.SecretFileError as exc:
        raise SystemExit(f"astara-aio: {exc}") from None
    net, comp, lb = settings.network, conf[compute_opts.GROUP], conf[lb_opts.GROUP]
    dash = conf[dash_opts.GROUP]
    nova = _nova_url(conf, state, local_url(comp.bind_host, comp.bind_port))
    drivers = _drivers(conf, state)
    lbaas = _lbaasv2(conf, state)
    dash_urls = _dashboard_urls(conf, state, dashboard_options(net, comp, lb, o))
    children = [
        Child("network-api", [str(BIN / "astara-network-api"), *common, *nova, *lbaas],
              (net.bind_host, net.bind_port)),
        Child("loadbalancer-api", [str(BIN / "astara-loadbalancer-api"), *common],
              (lb.bind_host, lb.bind_port)),
        Child("compute-api", [str(BIN / "astara-compute-api"), *common],
              (comp.bind_host, comp.bind_port)),
        Child("compute-metadata", [str(BIN / "astara-compute-metadata"), *common],
              (comp.metadata_bind_host, comp.metadata_port)),
        *(Child(name, [str(BIN / "astara-compute-agent"), *common, *extra])
          for name, extra in compute_agents(conf, state, conf.compute_hosts)),
        # No --mgmt-prefix: the compute agent puts the management port's address on
        # eth0, and the agent waits for it rather than guessing an EUI-64 address.
        Child("appliance-agent", [str(BIN / "astara-appliance-agent"), "--mode", "host",
                                  "--state-dir", str(state / "appliance"),
                                  "--auth-key-file", o.appliance_auth_key_file]),
        Child("orchestrator", [str(BIN / "astara-orchestrator"), *common, *drivers],
              (o.rpc_hosts[0], o.rpc_port)),
        Child("dashboard", [str(BIN / "astara-dashboard"), *common, *dash_urls],
              (dash.bind_host, dash.bind_port)),
    ]
    stopping = False

    def on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for child in children:
            _start(child, logdir)
            if child.port:
                _wait_port(*child.port, child)
        LOG.info("Astara all-in-one is up: network API http://%s:%d/, load-balancer API "
                 "http://%s:%d/, compute API http://%s:%d/, orchestrator RPC http://%s:%d/ "
                 "(astara-ctl router list), dashboard http://%s:%d/; logs in %s",
                 net.bind_host, net.bind_port, lb.bind_host, lb.bind_port, comp.bind_host,
                 comp.bind_port, o.rpc_hosts[0], o.rpc_port, dash.bind_host, dash.bind_port,
                 logdir)
        LOG.info("the dashboard's admin login asks for the password in %s",
                 dash.admin_password_file)
        while not stopping:
            time.sleep(WATCH_TICK)
            for child in children:
                if stopping or child.proc is None or child.proc.poll() is None:
                    continue
                delay = min(30.0, 2.0 ** child.restarts)
                if time.monotonic() - child.started < delay:
                    continue
                LOG.error("%s exited with %s: restarting (see %s)", child.name,
                          child.proc.returncode, logdir / f"{child.name}.log")
                child.restarts += 1
                _start(child, logdir)
    finally:
        LOG.info("stopping")
        _stop(children)
    return 0


if __name__ == "__main__":
    sys.exit(main())
