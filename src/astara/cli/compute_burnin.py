"""``astara-compute-burnin``: prove a compute deployment works, through its public APIs.

    astara-compute-burnin --project-id P [--config-file compute.ini] [--json FILE]
    astara-compute-burnin --project-id P --show-stale | --delete-stale
    astara-compute-burnin --os-cloud NAME [--config-file compute.ini] ...

Reads the compute service's configuration for the API URLs, the metadata secret and
the bridge and namespace prefixes (the ping steps run as root on a netns host).
Under ``auth_strategy = keystone``, ``--os-cloud`` (``$OS_CLOUD``; or an openrc's
``OS_*`` variables) names a user's credentials in clouds.yaml (``cloud_auth``): every
call carries one token, the project is the token's (``--project-id`` may only repeat
it), and the compute and network APIs are the catalog's unless ``--compute-url`` and
``--network-url`` name them.
On a terminal, a progress bar of the steps shows the one under way (nothing of it when
stdout is not a terminal). ``--show-stale`` and ``--delete-stale`` see only the
project's own resources, even with an admin's token; a delete refused (403) is one
line on stderr and exit 1. Exits 0 when every step passed (warnings included), 1 on any
failure, 2 on usage.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

from oslo_config import cfg

from astara.burnin.steps import check_run_id
from astara.common import cloud_auth, progress
from astara.common.entry import one_line_errors
from astara.compute_service import settings as settings_mod
from astara.compute_service.agent.runner import SubprocessRunner
from astara.compute_service.burnin import scenario as burnin
from astara.compute_service.burnin.client import ApiClient
from astara.compute_service.burnin.probe import Probe, remove_stale, stale

CLI_OPTS = [
    cfg.StrOpt("project-id", help="Project the burn-in acts as (required without "
               "--os-cloud)."),
    cfg.StrOpt("os-cloud", help="A cloud of clouds.yaml (default: $OS_CLOUD): Keystone "
               "tokens instead of noauth headers."),
    cfg.StrOpt("user-id", default="burnin"),
    cfg.StrOpt("compute-url", help="Default: http://[compute_service] bind_host:bind_port."),
    cfg.StrOpt("network-url", help="Default: [compute_service] network_url."),
    cfg.StrOpt("metadata-url", help="Default: http://metadata_bind_host:metadata_port."),
    cfg.StrOpt("run-id", help="Names everything this run creates (default: random)."),
    cfg.StrOpt("prefix", default="burnin-", help="Name prefix of burn-in resources."),
    cfg.StrOpt("image", default="astara-tenant"),
    cfg.StrOpt("flavor", default="m1.tiny"),
    cfg.StrOpt("cidr", default="10.254.0.0/24", help="Subnet of the burn-in network."),
    cfg.FloatOpt("build-warning", default=10.0),
    cfg.FloatOpt("build-fail", default=60.0),
    cfg.FloatOpt("action-warning", default=10.0),
    cfg.FloatOpt("action-fail", default=60.0),
    cfg.FloatOpt("ping-timeout", default=30.0),
    cfg.StrOpt("json", help="Write the JSON summary to this file."),
    cfg.BoolOpt("show-stale", default=False, help="List leftovers of earlier runs."),
    cfg.BoolOpt("delete-stale", default=False, help="Delete leftovers of earlier runs."),
]


@one_line_errors("astara-compute-burnin")
def main(argv: list[str] | None = None) -> int:
    conf, _base, compute = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-compute-burnin",
        cli_opts=CLI_OPTS)
    creds = cloud_auth.login(conf.os_cloud) if cloud_auth.wanted(conf.os_cloud) else None
    if creds is not None and conf.project_id not in (None, creds.project_id):
        print(f"astara-compute-burnin: --project-id {conf.project_id} is not the "
              f"token's project ({creds.project_id})", file=sys.stderr)
        return 2
    project_id = creds.project_id if creds is not None else conf.project_id
    if not project_id:
        print("astara-compute-burnin: --project-id is required (no identity, no burn-in)",
              file=sys.stderr)
        return 2
    try:
        run_id = check_run_id(conf.run_id) if conf.run_id else secrets.token_hex(3)
    except ValueError as exc:
        print(f"astara-compute-burnin: --run-id: {exc}", file=sys.stderr)
        return 2
    if creds is not None:
        compute_url = conf.compute_url or creds.endpoint("compute", "/v2.1")
        network_url = conf.network_url or creds.endpoint("network")
    else:
        compute_url = conf.compute_url or f"http://{compute.bind_host}:{compute.bind_port}"
        network_url = conf.network_url or compute.network_url
    api = ApiClient(compute_url, network_url, conf.metadata_url or
                    f"http://{compute.metadata_bind_host}:{compute.metadata_port}",
                    project_id, conf.user_id, compute.metadata_secret,
                    auth=creds.auth if creds is not None else None)
    runner = SubprocessRunner()
    try:
        if conf.show_stale or conf.delete_stale:
            probes = [{"namespace": ns} for ns in stale()]
            if not conf.delete_stale:
                print(json.dumps({**burnin.stale(api, conf.prefix), "probes": probes},
                                 indent=2))
                return 0
            found = burnin.delete_stale(  # a refused delete: one line each, on stderr
                api, conf.prefix, conf.action_fail,
                warn=lambda line: print(f"astara-compute-burnin: {line}", file=sys.stderr))
            for ns in probes:
                remove_stale(runner, ns["namespace"])
            print(json.dumps({**found, "probes": probes}, indent=2))
            return 1 if found["not_deleted"] else 0
        workdir = compute.state_dir / "burnin" / run_id

        def probe(net: dict, subnet: dict) -> Probe:
            return Probe(runner, run_id, compute.bridge_prefix, net["id"], subnet["cidr"],
                         subnet["gateway_ip"], workdir)

        limits = burnin.Limits(conf.build_warning, conf.build_fail, conf.action_warning,
                               conf.action_fail, conf.ping_timeout)
        with progress.shown(sys.stdout) as shown:  # a bar of the steps, on a terminal only
            report = burnin.BurnIn(api, run_id, probe, limits, conf.prefix,
                                   compute.netns_prefix, conf.image, conf.flavor, conf.cidr,
                                   echo=print, progress=shown).run()
    finally:
        api.close()
    print(report.verdict())
    if conf.json:
        Path(conf.json).write_text(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
