"""``astara-compute-manage``: operator commands on the compute service's database.

``queue-inspect`` lists the dead-lettered events (what the dispatcher could not
parse, or failed to apply ``dispatcher_max_attempts`` times); ``queue-retry [ID ...]``
feeds them to the dispatcher again and removes the ones it now accepts.
``reconcile-servers [--fix-stale] [--fix-orphans] [--fix-unsynced] [--fix-pending]
[--fix-ports] [--fix-processes]`` compares this host's instances in the database with
its namespaces (netns backend, root) and repairs the kinds asked for (``reconcile``);
without a ``--fix-*`` flag it only reports. When stdout and stderr are both terminals, a
progress bar on stderr shows the phase and each repair (silent when stdout is piped).
``host-list`` shows every host (capacity, live instances, drained, last heartbeat,
whether its agent counts as alive); ``host-drain HOST`` / ``host-undrain HOST`` stop and
resume placing new instances there. ``host-evacuate HOST [--wait]`` (a drained host
only) asks the orchestrator's RPC API to rebuild each router, HA member and load
balancer whose current appliance is on HOST (``astara-ctl router rebuild``), so that it
boots elsewhere; one line per request on stderr, and with ``--wait`` each one's state
until its new appliance is active elsewhere (exit 1 if one is not).
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
import urllib.parse

import httpx
from oslo_config import cfg

from astara.cli import ctl
from astara.common import progress
from astara.common.entry import one_line_errors
from astara.compute_service import evacuation
from astara.compute_service import settings as settings_mod
from astara.compute_service.agent import reconcile
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.api import placement
from astara.compute_service.dispatcher import dead_letters
from astara.db.engine import Database


def queue_inspect(db: Database) -> list[dict]:
    return dead_letters.listing(db)


def queue_retry(db: Database, ids: list[int] | None = None) -> dict[str, list[int]]:
    return dead_letters.retry(db, ids)


def reconcile_servers(db: Database, backend, host: str, fix: set[str],
                      grace: float = reconcile.GRACE,
                      shown: progress.Progress = progress.SILENT) -> dict:
    return reconcile.run(db, backend, host, fix, grace, shown)


def host_evacuate(db: Database, host: str, http: httpx.Client, wait: float | None = None,
                  say=print) -> dict:
    """Ask for a rebuild of each appliance key on a drained ``host`` whose appliance
    there is still the one the orchestrator holds (``GET /<kind>s/<id>``: a second run
    does not rebuild what moved); with ``wait`` (seconds), then watch until each has a new
    appliance active elsewhere. ``SystemExit`` with one line when the host is unknown or
    not drained."""
    with db.read() as s:
        drained = evacuation.host_state(s, host)
        todo = evacuation.plan(evacuation.on_host(s, host))
    if drained is None:
        raise SystemExit(f"astara-compute-manage: no host {host!r} is registered "
                         "(astara-compute-manage host-list)")
    if not drained:
        raise SystemExit(f"astara-compute-manage: host {host!r} is not drained: run "
                         f"host-drain {host} first (else the rebuilds may land on it again)")
    asked, failed, skipped = [], [], []
    for n, step in enumerate(todo.rebuilds, 1):
        where = f"{step.kind} {step.resource_id}"
        try:
            shown = ctl.call(http, "GET", f"/{step.kind}s/"
                             f"{urllib.parse.quote(step.shown_id, safe='')}")
            current = evacuation.current_instance(step, shown.get(step.kind) or {})
            if current != step.instance_id:
                skipped.append({"kind": step.kind, "id": step.resource_id,
                                "instance_id": step.instance_id, "current": current})
                say(f"{where}: instance {step.instance_id} is not its current appliance "
                    f"({current}): not rebuilt ({n}/{len(todo.rebuilds)})", file=sys.stderr)
                continue
            ctl.call(http, "PUT", f"/{step.kind}/rebuild/"
                     f"{urllib.parse.quote(step.resource_id, safe='')}")
        except ctl.RpcError as exc:
            failed.append({"kind": step.kind, "id": step.resource_id, "error": str(exc)})
            say(f"{where}: rebuild refused: {exc} ({n}/{len(todo.rebuilds)})",
                file=sys.stderr)
            continue
        asked.append({"kind": step.kind, "id": step.resource_id,
                      "instance_id": step.instance_id})
        say(f"{where}: rebuild asked (instance {step.instance_id}, "
            f"{n}/{len(todo.rebuilds)})", file=sys.stderr)
    for instance_id in todo.going:
        say(f"instance {instance_id}: being deleted already (awaits {host}'s agent)",
            file=sys.stderr)
    out: dict = {"host": host, "rebuilds": asked, "failed": failed,
                 "not_current": skipped, "deleting": list(todo.going),
                 "left": list(todo.left)}
    if wait is not None and asked:
        out.update(_wait_moved(db, host, {(a["kind"], a["id"]): a["instance_id"]
                                          for a in asked}, wait, say))
    return out


def _wait_moved(db: Database, host: str, asked: dict[tuple[str, str], str],
                timeout: float, say) -> dict[str, list[str]]:
    """Until each asked (kind, key: its old instance) has a new appliance active
    elsewhere, one in error, or the timeout: ``remaining`` (its old appliance still
    live on ``host``) and ``not_replaced`` (new one in error, or not active yet), each
    as "kind key (state)"; each change said."""
    deadline = time.monotonic() + timeout
    shown: dict[tuple[str, str], str] = {}
    while True:
        with db.read() as s:
            now = evacuation.moved(asked, host, evacuation.appliances(s))
        for key in sorted(now):
            if shown.get(key) != now[key]:
                say(f"{key[0]} {key[1]}: {now[key]}", file=sys.stderr)
        shown = now
        open_ = {k for k, v in now.items() if v in ("here", "waiting")}
        if not open_ or time.monotonic() > deadline:
            return {"remaining": sorted(f"{k} {r}" for (k, r), v in now.items()
                                        if v == "here"),
                    "not_replaced": sorted(f"{k} {r} ({v})" for (k, r), v in now.items()
                                           if v in ("error", "waiting"))}
        time.sleep(1.0)  # a poll of the database, as an operator would


def plain_remote(url: str) -> bool:
    """Whether ``url`` would carry the RPC token in clear off this machine: http (not
    https) to a host that is not loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def bars(stdout, stderr):
    """Progress on ``stderr`` when a person reads both streams: the JSON on stdout is for
    whoever reads it, and a program reading it (stdout piped) gets no bar anywhere."""
    return progress.shown(stderr, machine_output=not stdout.isatty())


def _add_commands(subparsers):
    inspect = subparsers.add_parser("queue-inspect", help="List dead-lettered events.")
    inspect.set_defaults(func="queue-inspect")
    retry = subparsers.add_parser("queue-retry", help="Re-apply dead-lettered events.")
    retry.add_argument("ids", nargs="*", type=int)
    retry.set_defaults(func="queue-retry")
    rec = subparsers.add_parser("reconcile-servers",
                                help="Compare the database with this host; repair drift.")
    for kind in reconcile.KINDS:
        rec.add_argument(f"--fix-{kind}", action="store_true")
    rec.add_argument("--fix-all", action="store_true")
    rec.add_argument("--grace", type=float, default=reconcile.GRACE,
                     help="Seconds a finished job still counts as in flight.")
    rec.set_defaults(func="reconcile-servers")
    hosts = subparsers.add_parser("host-list", help="Hosts: capacity, use, drain, heartbeat.")
    hosts.set_defaults(func="host-list")
    for name, what in (("host-drain", "Place no new instance on HOST (running ones stay)."),
                       ("host-undrain", "Place new instances on HOST again.")):
        sub = subparsers.add_parser(name, help=what)
        sub.add_argument("host_name", metavar="HOST")
        sub.set_defaults(func=name)
    evac = subparsers.add_parser("host-evacuate", help="Rebuild elsewhere the routers and "
                                 "load balancers whose appliance is on a drained HOST.")
    evac.add_argument("host_name", metavar="HOST")
    evac.add_argument("--rpc-url", default=ctl.DEFAULT_URL,
                      help="the orchestrator's RPC API")
    evac.add_argument("--token-file", default=None,
                      help="its RPC token (default: as astara-ctl finds it)")
    evac.add_argument("--insecure", action="store_true",
                      help="send the RPC token over plain http to a remote --rpc-url")
    evac.add_argument("--wait", action="store_true",
                      help="then wait until each has a new appliance active elsewhere")
    evac.add_argument("--timeout", type=float, default=600.0,
                      help="seconds --wait waits at most")
    evac.set_defaults(func="host-evacuate")


@one_line_errors("astara-compute-manage")
def main(argv: list[str] | None = None) -> int:
    command = cfg.SubCommandOpt("command", handler=_add_commands)
    conf, base, compute = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-compute-manage",
        cli_opts=[command])
    db = Database(base.database.url)
    try:
        if conf.command.func == "reconcile-servers":
            fix = {k for k in reconcile.KINDS
                   if conf.command.fix_all or getattr(conf.command, f"fix_{k}")}
            with bars(sys.stdout, sys.stderr) as bar:
                result: object = reconcile_servers(db, NetnsBackend.from_settings(
                    compute, db=db), compute.host, fix, conf.command.grace, bar)
        elif conf.command.func == "host-list":
            with db.read() as s:
                result = placement.host_list(s, compute.agent_down_time)
        elif conf.command.func in ("host-drain", "host-undrain"):
            with db.write() as s:
                found = placement.set_drained(s, conf.command.host_name,
                                              conf.command.func == "host-drain",
                                              compute.agent_down_time)
            if found is None:
                print(f"no host {conf.command.host_name!r} is registered "
                      "(astara-compute-manage host-list)", file=sys.stderr)
                return 1
            result = found
        elif conf.command.func == "host-evacuate":
            a = conf.command
            if plain_remote(a.rpc_url) and not a.insecure:
                raise SystemExit(f"astara-compute-manage: {a.rpc_url} is plain http to "
                                 "another host: the RPC token would cross the network in "
                                 "clear (use https, or --insecure)")
            rpc_token = ctl.token(a.token_file, dict(os.environ))
            with httpx.Client(base_url=a.rpc_url, timeout=30,
                              headers={ctl.TOKEN_HEADER: rpc_token}) as http:
                result = host_evacuate(db, a.host_name, http,
                                       a.timeout if a.wait else None)
            if result["failed"] or result.get("remaining") or result.get("not_replaced"):
                print(json.dumps(result, indent=2))
                return 1
        elif conf.command.func == "queue-inspect":
            result = queue_inspect(db)
        else:
            result = queue_retry(db, list(conf.command.ids))
    finally:
        db.dispose()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
