"""``astara-network-api``: serve the Neutron v2.0-compatible network API."""

from __future__ import annotations

import sys

from astara.common import logs, private
from astara.common import settings as settings_mod
from astara.common.entry import one_line_errors
from astara.network_service import serve


@one_line_errors("astara-network-api")
def main(argv: list[str] | None = None) -> int:
    _conf, settings = settings_mod.load(
        sys.argv[1:] if argv is None else argv, prog="astara-network-api")
    private.restrict_umask()  # state, logs, secrets: owner only
    logs.setup(settings.debug)
    return serve.run(settings)


if __name__ == "__main__":
    sys.exit(main())
