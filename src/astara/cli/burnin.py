"""``astara-burnin``: prove a running Astara end to end, through its public APIs.

    astara-burnin [--network-url U] [--compute-url U] [--loadbalancer-url U]
                  [--skip-loadbalancer] [--ha] [--keep] [--json FILE] [--run-id ID]

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
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from astara.burnin.scenario import Options, Scenario
from astara.burnin.steps import check_run_id
from astara.common import progress
from astara.common.entry import one_line_errors


@one_line_errors("astara-burnin")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="astara-burnin", description=__doc__.split("\n")[0])
    p.add_argument("--network-url", default=Options.network_url)
    p.add_argument("--compute-url", default=Options.compute_url)
    p.add_argument("--loadbalancer-url", default=Options.loadbalancer_url)
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
    if os.geteuid() != 0:
        print("astara-burnin: run it as root on the all-in-one host", file=sys.stderr)
        return 2
    with progress.shown(sys.stdout) as shown:  # a bar of the steps, on a terminal only
        scenario = Scenario(Options(network_url=a.network_url, compute_url=a.compute_url,
                                    external_cidr=a.external_cidr,
                                    boot_timeout=a.boot_timeout, boot_warn=a.boot_warn,
                                    keep=a.keep, run_id=a.run_id or "",
                                    loadbalancer_url=a.loadbalancer_url,
                                    skip_loadbalancer=a.skip_loadbalancer, ha=a.ha),
                            progress=shown)
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


def _run_id(value: str) -> str:
    try:
        return check_run_id(value)
    except ValueError as exc:  # argparse prints it as one usage line, exit 2
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
