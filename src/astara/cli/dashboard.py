"""``astara-dashboard``: serve the web dashboard (127.0.0.1:8080 by default).

It reads no database: every page comes from the public APIs, called with the logged-in
user's identity (see docs/dashboard.md). The key that signs session cookies is
``[dashboard] session_secret_file`` (created 0600 when missing); the orchestrator's RPC
token (``rpc_auth_token_file``) serves the admin pages, and without it they say so; the
admin role's login asks for the password in ``admin_password_file`` (without it, no
admin login).
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from astara.common import logs, private
from astara.common.entry import one_line_errors
from astara.dashboard import settings as settings_mod
from astara.dashboard.app import create_app

LOG = logging.getLogger(__name__)


@one_line_errors("astara-dashboard")
def main(argv: list[str] | None = None) -> int:
    _conf, base, dash = settings_mod.load(sys.argv[1:] if argv is None else argv,
                                          prog="astara-dashboard")
    private.restrict_umask()
    logs.setup(base.debug)
    try:
        secret = private.ensure_secret(dash.session_secret_file, "dashboard session secret")
    except private.SecretFileError as exc:
        raise SystemExit(f"astara-dashboard: {exc}") from None
    try:
        token = private.read_secret(dash.rpc_auth_token_file, "RPC token")
    except private.SecretFileError as exc:
        LOG.warning("admin pages cannot reach the orchestrator: %s", exc)
        token = b""
    try:
        admin_password = private.read_secret(dash.admin_password_file,
                                             "dashboard admin password")
    except private.SecretFileError as exc:
        LOG.warning("no admin login: %s", exc)
        admin_password = b""
    app = create_app(dash, secret, token, admin_password=admin_password)
    LOG.info("dashboard on http://%s:%s/", dash.bind_host, dash.bind_port)
    uvicorn.run(app, host=dash.bind_host, port=dash.bind_port, log_level="warning",
                access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
