"""How our HTTP clients keep connections between calls to our own servers.

uvicorn closes a connection idle for 5 s (``timeout_keep_alive``) and httpx reuses one
idle for up to 5 s: a request sent on a connection the server is closing at that
moment gets "Connection reset by peer" (a boot failed that way at 1,000 routers, on
a busy host). Our clients drop an idle connection well before any of our servers do.
"""

from __future__ import annotations

import httpx

KEEPALIVE_EXPIRY = 2.0  # seconds; below uvicorn's 5 s default with room for a slow loop
# httpx's own defaults, which ``httpx.Limits`` does not fill in when one field is given
MAX_CONNECTIONS, MAX_KEEPALIVE = 100, 20


def limits() -> httpx.Limits:
    return httpx.Limits(max_connections=MAX_CONNECTIONS,
                        max_keepalive_connections=MAX_KEEPALIVE,
                        keepalive_expiry=KEEPALIVE_EXPIRY)
