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
resume placing new instances there.
"""

from __future__ import annotations

import json
import sys

from oslo_config import cfg

from astara.common import progress
from astara.common.entry import one_line_errors
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
                      grace: float = 10.0, shown: progress.Progress = progress.SILENT) -> dict:
    return reconcile.run(db, backend, host, fix, grace, shown)


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
    rec.add_argument("--grace", type=float, default=10.0,
                     help="Seconds a finished job still counts as in flight.")
    rec.set_defaults(func="reconcile-servers")
    hosts = subparsers.add_parser("host-list", help="Hosts: capacity, use, drain, heartbeat.")
    hosts.set_defaults(func="host-list")
    for name, what in (("host-drain", "Place no new instance on HOST (running ones stay)."),
                       ("host-undrain", "Place new instances on HOST again.")):
        sub = subparsers.add_parser(name, help=what)
        sub.add_argument("host_name", metavar="HOST")
        sub.set_defaults(func=name)


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
