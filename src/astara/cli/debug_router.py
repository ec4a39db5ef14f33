"""``astara-debug-router --router-id ID``: one router's reconciler in the foreground.

Runs the same observe -> plan -> execute passes the orchestrator runs, one at a
time, printing what was observed, the step chosen and its outcome; ``--pdb``
stops in the debugger before each step is executed; ``--dry-run`` only plans.

First it borrows the router from the running orchestrator (RPC API, with the
token of ``[orchestrator] rpc_auth_token_file``): debug mode on, and it waits
until the orchestrator confirms it leaves the router alone; at the end (also on
Ctrl-C, SIGTERM, SIGHUP or an error; these are ignored while it does so) it hands
the router back (``manage``), unless an operator had put it in debug mode before;
if that fails it says the router is left in debug mode and exits non-zero.
``--standalone`` skips this when no orchestrator runs. Every step is appended, one
JSON object a line, to ``$state_path/debug-router/<router id>.jsonl``, and the plan
memory it changes is saved where the orchestrator reads it (which re-reads it once
it has the router back). It calls the appliance with the orchestrator's credential
(``[orchestrator] appliance_auth_key_file``), so it runs as root with the
orchestrator's configuration.

In a cluster (``[coordination] enabled``) its pushes are fenced like the owner's: they
carry the epoch of the router's lease row as it was at the first step
(``cluster.borrowed``), so an appliance that accepted a newer owner's epoch refuses them,
and a lease that changes hands during the session stops it; either way with one line
on stderr, the router handed back, and status 1. ``--override-fence`` pushes with no
epoch instead, naming the operator: the appliance applies the push whatever epoch it
holds; both sides log a WARNING and the journal records it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import logging
import os
import pdb
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from oslo_config import cfg

from astara.cli import router_hold
from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.common.entry import ConfigError, one_line_errors
from astara.db.engine import Database
from astara.orchestrator import endpoints, intake, management
from astara.orchestrator import opts as orch_opts
from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.cluster import settings as cluster_settings
from astara.orchestrator.cluster.borrowed import SessionFence
from astara.orchestrator.cluster.leases import Leases
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import OutcomeKind, Step
from astara.orchestrator.runtime import Runtime

LOG = logging.getLogger(__name__)
CLI = [
    cfg.StrOpt("router-id", required=True, help="The router to reconcile."),
    cfg.BoolOpt("pdb", default=False, help="Stop in pdb before each step."),
    cfg.BoolOpt("dry-run", default=False, help="Observe and plan only."),
    cfg.IntOpt("max-steps", default=50, help="Stop after this many steps."),
    cfg.StrOpt("rpc-url", default="", help="The orchestrator's RPC API (default: the first "
               "of [orchestrator] rpc_hosts, rpc_port)."),
    cfg.BoolOpt("standalone", default=False, help="No orchestrator runs: do not ask one to "
                "leave the router alone."),
    cfg.FloatOpt("hold-timeout", default=60.0, help="Seconds to wait for the orchestrator "
                 "to confirm it leaves the router alone."),
    cfg.BoolOpt("override-fence", default=False, help="In a cluster: push without the "
                "router's lease epoch, so that the appliance applies the push whatever "
                "epoch it holds, even a newer owner's (a WARNING here and at the "
                "appliance; journaled)."),
]


class FencedOut(Exception):
    """A step refused by the fence (the lease changed hands, or the appliance holds a
    newer epoch): the session ends, the router handed back."""


def journal_path(state_path: Path, router_id: str) -> Path:
    return state_path / "debug-router" / f"{router_id}.jsonl"


class Journal:
    """The steps taken, appended (and flushed) one JSON line each, for a later operator."""

    def __init__(self, path: Path):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self._f = open(path, "a", buffering=1)  # noqa: SIM115  (closed by close())
        self._who = {"by": "astara-debug-router", "pid": os.getpid(),
                     "user": getpass.getuser(), "host": socket.gethostname()}

    def write(self, event: str, **fields: Any) -> None:
        line = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event,
                **self._who, **fields}
        self._f.write(json.dumps(line, sort_keys=True, default=str) + "\n")

    def close(self) -> None:
        self._f.close()


def _show_observed(observed) -> None:
    data = dataclasses.asdict(observed)
    data.pop("memory", None)
    print("  observed:", {k: v for k, v in data.items() if v not in (None, (), frozenset())})
    print("  memory:  ", dataclasses.asdict(observed.memory))


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM, SIGHUP end it as Ctrl-C does: the router is handed back


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """While the router is handed back: a second Ctrl-C must not cut the release short."""
    before = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _steps(conf, rt: Runtime, ref: ResourceRef, journal: Journal) -> None:
    for n in range(1, conf.max_steps + 1):
        print(f"[{n}] {time.strftime('%H:%M:%S')} router {ref.id}")
        try:
            observed, decision = rt.reconciler.decide(ref, full=True)
        except RemoteError as exc:
            print(f"  cannot observe: {exc}")
            journal.write("observation failed", n=n, router=ref.id, error=str(exc))
            time.sleep(min(2.0 ** n, 5.0))
            continue
        _show_observed(observed)
        print(f"  plan:     {decision.step} -> {decision.status} ({decision.reason}); "
              f"then {decision.outcome.kind} after {decision.outcome.after:.0f} s")
        planned = {"n": n, "router": ref.id, "step": str(decision.step),
                   "status": str(decision.status), "reason": decision.reason}
        if conf.dry_run:
            journal.write("planned", **planned)
            break
        if conf.pdb:
            pdb.set_trace()  # noqa: T100  (asked for with --pdb)
        st = rt.reconciler.state(ref)
        outcome = rt.reconciler.execute(ref, decision)
        error = st.steps[-1].error if st.steps else None
        print(f"  outcome:  {outcome.kind} after {outcome.after:.0f} s"
              + (f"; error: {error}" if error else ""))
        journal.write("step", **planned, outcome=str(outcome.kind), after=outcome.after,
                      error=error)
        if st.fenced:
            raise FencedOut(f"router {ref.id}: {decision.step} not performed: {error} "
                            "(run again to act under the current lease, or "
                            "--override-fence)")
        if decision.step is Step.ALIVE or outcome.kind in (OutcomeKind.TERMINAL,
                                                           OutcomeKind.DONE) \
                or n == conf.max_steps:
            break
        time.sleep(min(max(outcome.after, 0.2), 5.0))


def fence(rt: Runtime, enabled: bool, override: bool, read, who: str,
          journal: Journal, router_id: str) -> None:
    """In a cluster, fence the session's steps by the lease it borrows (``read``: a
    resource's lease row), or, overriding, push with no epoch and say so."""
    if not enabled:
        return  # a single node: pushes carry no epoch, as the orchestrator's
    if override:
        LOG.warning("router %s: --override-fence: pushes carry no epoch, so the appliance "
                    "applies them whatever epoch it holds (a newer owner's config may be "
                    "replaced); by %s", router_id, who)
        journal.write("fence overridden", router=router_id)
        rt.appliance.override = who
        return
    rt.reconciler.executor.fence = SessionFence(read, who)


def left_in_debug(exc: router_hold.LeftInDebug) -> None:
    """Say the router is still in debug mode (one line), then end as the error under way
    would have: its own line (or traceback, a bug's), else status 1."""
    print(f"astara-debug-router: {exc}", file=sys.stderr, flush=True)
    under = exc.under_way
    if isinstance(under, router_hold.HoldError):
        raise ConfigError(str(under)) from None
    if isinstance(under, FencedOut):
        print(f"astara-debug-router: {under}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    if under is None or isinstance(under, KeyboardInterrupt):
        raise SystemExit(1)
    raise under


@one_line_errors("astara-debug-router")
def main(argv: list[str] | None = None) -> int:
    conf, settings = settings_mod.load(sys.argv[1:] if argv is None else argv,
                                       prog="astara-debug-router", cli_opts=CLI,
                                       groups=orch_opts.GROUPS)
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    if not intake.is_router_id(conf.router_id):
        raise ConfigError(f"--router-id {conf.router_id!r} is not a router id (a UUID)")
    o = orch_opts.from_conf(conf)
    try:  # it talks to the appliance as the orchestrator does, with its key
        private.read_secret(o.appliance_auth_key_file, "appliance deployment key")
        token = b"" if conf.standalone else private.read_secret(o.rpc_auth_token_file,
                                                                "RPC auth token")
    except private.SecretFileError as exc:
        raise ConfigError(str(exc)) from None
    db = Database(settings.database.url)
    db.ping()
    net = endpoints.resolve(o, "network")
    with httpx.Client(base_url=net.url.rstrip("/"), headers=o.service_headers, timeout=10,
                      **({"auth": net.auth} if net.auth else {})) as http:
        mgmt_net = management.ensure_network(o, http)
    coordination = cluster_settings.from_conf(conf)
    rt = Runtime(o, db, mgmt_net, preload=False)
    rt.reconciler.is_debug = lambda ref: False  # we are the one debugging it
    model = rt.network.router_model(conf.router_id)
    tenant = model.router.get("project_id", "") if model else ""
    ref = ResourceRef("router", conf.router_id, tenant)
    journal = Journal(journal_path(settings.state_path, ref.id))
    who = f"astara-debug-router {getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
    fence(rt, coordination.enabled, conf.override_fence,
          Leases(db, who, lease=0.0, margin=0.0).get, who, journal, ref.id)
    rpc = None if conf.standalone else router_hold.Rpc(
        conf.rpc_url or router_hold.rpc_url(o.rpc_hosts, o.rpc_port), token.decode())
    # SIGINT too: a process started with it ignored (a shell's background job) keeps it
    # ignored, and Ctrl-C or `kill -INT` would then never hand the router back.
    for stop in STOP_SIGNALS:
        signal.signal(stop, _interrupt)
    held: router_hold.Hold | None = None
    left: router_hold.LeftInDebug | None = None
    fenced: FencedOut | None = None
    try:
        with contextlib.ExitStack() as stack:
            if rpc is not None:
                reason = f"astara-debug-router pid {os.getpid()}: steps in {journal.path}"
                held = stack.enter_context(router_hold.hold(
                    rpc, ref.id, reason[:255], conf.hold_timeout, releasing=signals_ignored))
                print(f"router {ref.id} held: the orchestrator at {held.url} leaves it alone")
            journal.write("held", router=ref.id, orchestrator=held.url if held else None,
                          already_in_debug=held.already_held if held else None)
            _steps(conf, rt, ref, journal)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP, while held or while asking
        print("interrupted")
    except FencedOut as exc:
        fenced = exc
        journal.write("fenced", router=ref.id, error=str(exc))
    except router_hold.LeftInDebug as exc:
        left = exc
    except router_hold.HoldError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        if left is not None:
            journal.write("left in debug mode", router=ref.id, error=str(left))
        elif held is not None or rpc is None:
            journal.write("released", router=ref.id)
        journal.close()
        if rpc is not None:
            rpc.close()
        rt.close()
        db.dispose()
    if left is not None:
        left_in_debug(left)
    if held is not None and held.already_held:
        print(f"router {ref.id} stays in debug mode, as before (astara-ctl router manage "
              f"{ref.id} hands it back)")
    print(f"steps recorded in {journal.path}")
    if fenced is not None:
        print(f"astara-debug-router: {fenced}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
