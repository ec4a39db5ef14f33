"""``astara-debug-router --router-id ID``: one router's reconciler in the foreground.

Runs the same observe -> plan -> execute passes the orchestrator runs, one at a
time, printing what was observed, the step chosen and its outcome; ``--pdb``
stops in the debugger before each step is executed; ``--dry-run`` only plans.
Put the router in debug mode first (``astara-ctl router debug ID``) so the
orchestrator leaves it to you. It calls the appliance with the orchestrator's
credential (``[orchestrator] appliance_auth_key_file``), so it runs as root with
the orchestrator's configuration.
"""

from __future__ import annotations

import dataclasses
import pdb
import sys
import time

import httpx
from oslo_config import cfg

from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.db.engine import Database
from astara.orchestrator import management
from astara.orchestrator import opts as orch_opts
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import OutcomeKind, Step
from astara.orchestrator.runtime import Runtime

CLI = [
    cfg.StrOpt("router-id", required=True, help="The router to reconcile."),
    cfg.BoolOpt("pdb", default=False, help="Stop in pdb before each step."),
    cfg.BoolOpt("dry-run", default=False, help="Observe and plan only."),
    cfg.IntOpt("max-steps", default=50, help="Stop after this many steps."),
]


def _show_observed(observed) -> None:
    data = dataclasses.asdict(observed)
    data.pop("memory", None)
    print("  observed:", {k: v for k, v in data.items() if v not in (None, (), frozenset())})
    print("  memory:  ", dataclasses.asdict(observed.memory))


def main(argv: list[str] | None = None) -> int:
    conf, settings = settings_mod.load(sys.argv[1:] if argv is None else argv,
                                       prog="astara-debug-router", cli_opts=CLI,
                                       groups={orch_opts.GROUP: orch_opts.OPTS})
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    o = orch_opts.from_conf(conf)
    try:  # it talks to the appliance as the orchestrator does, with its key
        private.read_secret(o.appliance_auth_key_file, "appliance deployment key")
    except private.SecretFileError as exc:
        raise SystemExit(f"astara-debug-router: {exc}") from None
    with httpx.Client(base_url=o.network_url.rstrip("/"), headers=o.service_headers,
                      timeout=10) as http:
        mgmt_net = management.ensure_network(o, http)
    db = Database(settings.database.url)
    rt = Runtime(o, db, mgmt_net)
    rt.reconciler.is_debug = lambda ref: False  # we are the one debugging it
    model = rt.network.router_model(conf.router_id)
    tenant = model.router.get("project_id", "") if model else ""
    ref = ResourceRef("router", conf.router_id, tenant)
    try:
        for n in range(1, conf.max_steps + 1):
            observed, decision = rt.reconciler.decide(ref, full=True)
            print(f"[{n}] {time.strftime('%H:%M:%S')} router {ref.id}")
            _show_observed(observed)
            print(f"  plan:     {decision.step} -> {decision.status} ({decision.reason}); "
                  f"then {decision.outcome.kind} after {decision.outcome.after:.0f} s")
            if conf.dry_run:
                break
            if conf.pdb:
                pdb.set_trace()  # noqa: T100  (asked for with --pdb)
            st = rt.reconciler.state(ref)
            outcome = rt.reconciler.executor.execute(decision, ref, st, time.time())
            error = st.steps[-1].error if st.steps else None
            print(f"  outcome:  {outcome.kind} after {outcome.after:.0f} s"
                  + (f"; error: {error}" if error else ""))
            if decision.step is Step.ALIVE or outcome.kind in (OutcomeKind.TERMINAL,
                                                               OutcomeKind.DONE):
                break
            time.sleep(min(max(outcome.after, 0.2), 5.0))
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        rt.close()
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
