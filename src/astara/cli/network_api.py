"""``astara-network-api``: serve the Neutron v2.0-compatible network API."""

from __future__ import annotations

import sys

from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.common.entry import one_line_errors
from astara.loadbalancer_service import opts as lb_opts
from astara.loadbalancer_service import settings as lb_settings
from astara.network_service import serve


@one_line_errors("astara-network-api")
def main(argv: list[str] | None = None) -> int:
    conf, settings = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-network-api",
        groups={lb_opts.GROUP: lb_opts.loadbalancer_opts})
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    # [loadbalancer_service] neutron_lbaasv2: the LBaaS v2 paths, with that service's
    # quotas and page size.
    return serve.run(settings, lb_settings.from_conf(conf, settings))


if __name__ == "__main__":
    sys.exit(main())
