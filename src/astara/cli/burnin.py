"""``astara-burnin``: prove a running Astara end to end, through its public APIs.

    astara-burnin [--network-url U] [--compute-url U] [--loadbalancer-url U]
                  [--skip-loadbalancer] [--ha] [--keep] [--json FILE] [--run-id ID]
                  [--os-cloud NAME [--admin-cloud NAME]]

Exit status 0 when every step passed, 1 otherwise, 2 on usage; ``--json`` writes
the summary (per-step timings). ``--keep`` skips the steps that take the topology
down and the cleanup, and prints what stays up. ``--run-id`` names everything the
run makes (``burnin-<ID>-...``, namespace ``bi-up-<ID>``; default random). Run as root on
the all-in-one host (it looks into instance namespaces and plugs an "upstream"
namespace into the external network's bridge). On a terminal, a progress bar of the
steps shows the one under way (nothing of it when stdout is not a terminal). The
load-balancer stage needs the orchestrator's ``loadbalancer`` driver and
``astara-loadbalancer-api``: without them, ``--skip-loadbalancer`` reports it skipped
instead of failed. ``--ha`` adds the HA stage (the router as a VRRP pair, its master
killed, TCP kept, a replacement, HA off; ``astara.burnin.ha_stage``); it needs
keepalived and conntrackd on the host, and two compute hosts to show anti-affinity
(``astara-aio --compute-hosts 2``).

Under ``auth_strategy = keystone``, ``--os-cloud NAME`` (``$OS_CLOUD``, or an openrc's
``OS_*`` variables) is the user the tenant's steps act as (the token's project); the
steps that need the admin role use ``--admin-cloud NAME``, else that same token, which
must then have the role (``astara.burnin.clouds``). The APIs are the catalog's unless a
URL option names them. Without either, the noauth headers, as under ``astara-aio``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from astara.burnin import clouds
from astara.burnin.scenario import Options, Scenario
from astara.burnin.steps import check_run_id
from astara.common import cloud_auth, progress
from astara.common.entry import one_line_errors


@one_line_errors("astara-burnin")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="astara-burnin", description=__doc__.split("\n")[0])
    p.add_argument("--network-url", help="default: the catalog's network endpoint with "
                   f"--os-cloud, else {Options.network_url}")
    p.add_argument("--compute-url", help="default: the catalog's compute endpoint (less "
                   f"/v2.1) with --os-cloud, else {Options.compute_url}")
    p.add_argument("--loadbalancer-url", help="default: the catalog's load-balancer "
                   f"endpoint with --os-cloud, else {Options.loadbalancer_url}")
    p.add_argument("--os-cloud", help="a cloud of clouds.yaml (default: $OS_CLOUD, else an "
                   "openrc's OS_* variables): Keystone tokens instead of noauth headers")
    p.add_argument("--admin-cloud", help="a cloud with the admin role for the steps that "
                   "need it (default: --os-cloud's)")
    p.add_argument("--skip-loadbalancer", action="store_true",
                   help="skip the load-balancer stage (no loadbalancer driver enabled)")
    p.add_argument("--external-cidr", default=Options.external_cidr)
    p.add_argument("--boot-timeout", type=float, default=Options.boot_timeout)
    p.add_argument("--boot-warn", type=float, default=Options.boot_warn)
    p.add_argument("--ha", action="store_true",
                   help="also run the HA router stage (ha=True, failover, HA off)")
    p.add_argument("--keep", action="store_true", help="leave the topology up for exploring")
    p.add_argument("--json", help="write the summary to this file")
    p.add_argument("--run-id", default=None, type=_run_id,
                   help="names what the run makes (default: random)")
    a = p.parse_args(argv)
    keystone = cloud_auth.wanted(a.os_cloud)
    if a.admin_cloud and not keystone:
        p.error("--admin-cloud needs --os-cloud (or $OS_CLOUD, or an openrc's OS_AUTH_URL)")
    # Credentials first: a wrong password is one line before anything else is checked.
    user = cloud_auth.login(a.os_cloud) if keystone else None
    # The --os-cloud's own cloud named again: its one login (one token), not a second.
    same = not a.admin_cloud or a.admin_cloud == (a.os_cloud or os.environ.get("OS_CLOUD"))
    admin = user if same else cloud_auth.login(a.admin_cloud)
    if admin is not None and (why := clouds.admin_refusal(admin.where, admin.roles, a.ha,
                                                          bool(a.admin_cloud))):
        print(f"astara-burnin: {why}", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("astara-burnin: run it as root on the all-in-one host", file=sys.stderr)
        return 2
    lb_login = None if a.skip_loadbalancer else user  # no catalog entry needed then
    o = Options(network_url=clouds.api_url(a.network_url, user, "network",
                                           Options.network_url),
                compute_url=clouds.api_url(a.compute_url, user, "compute",
                                           Options.compute_url),
                loadbalancer_url=clouds.api_url(a.loadbalancer_url, lb_login,
                                                "load-balancer", Options.loadbalancer_url),
                external_cidr=a.external_cidr, boot_timeout=a.boot_timeout,
                boot_warn=a.boot_warn, keep=a.keep, run_id=a.run_id or "",
                skip_loadbalancer=a.skip_loadbalancer, ha=a.ha)
    conns = {}  # none: the scenario's noauth connections
    if user is not None and admin is not None:
        conns["user"] = clouds.connection(o, user.session)
        conns["admin"] = (conns["user"] if admin is user
                          else clouds.connection(o, admin.session))
    # Stopped (SIGTERM) as by Ctrl-C: the scenario removes what it made on the way out.
    signal.signal(signal.SIGTERM, _stopped)
    with progress.shown(sys.stdout) as shown:  # a bar of the steps, on a terminal only
        scenario = Scenario(o, progress=shown, **conns)
        report = scenario.run()
    summary = report.summary()
    if a.keep:
        summary["kept"] = scenario.kept()
        print(f"kept up (named burnin-{report.run_id}-...): "
              + ", ".join(f"{k}={v}" for k, v in summary["kept"].items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=2)
    print(report.verdict())
    return 0 if report.ok else 1


def _stopped(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _run_id(value: str) -> str:
    try:
        return check_run_id(value)
    except ValueError as exc:  # argparse prints it as one usage line, exit 2
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
