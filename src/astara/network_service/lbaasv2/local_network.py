"""The load-balancer service's ``Network`` inside the network API's own process.

Served from the network API, the service makes its VIP ports through this
process's ``NetworkService`` rather than over HTTP to itself (a request waiting on
a request of its own server could exhaust the worker threads), with the caller's
identity: the same policy and the same checks as ``POST /v2.0/ports``.
"""

from __future__ import annotations

from typing import Any

from astara.common.network_api import Caller, NetworkError
from astara.network_service import attributes as A
from astara.network_service import errors
from astara.network_service.context import RequestContext
from astara.network_service.service import NetworkService


def context(caller: Caller) -> RequestContext:
    return RequestContext(project_id=caller.project_id, user_id=caller.user_id,
                          roles=tuple(caller.roles))


class LocalNetwork:
    def __init__(self, service: NetworkService):
        self.service = service

    def get(self, caller: Caller, kind: str, id_: str) -> dict[str, Any] | None:
        try:
            return self.service.show(context(caller), f"{kind}s", id_)
        except errors.NotFound:
            return None
        except errors.NeutronError as exc:
            raise NetworkError(exc.status, exc.msg) from None

    def create_port(self, caller: Caller, fields: dict) -> dict:
        ctx = context(caller)
        try:
            data = A.parse_body(A.RESOURCES["ports"], {"port": fields}, ctx, create=True)
            return self.service.create(ctx, "ports", [data], [fields])[0]
        except errors.NeutronError as exc:
            raise NetworkError(exc.status, exc.msg) from None

    def delete_port(self, caller: Caller, port_id: str) -> None:
        try:
            self.service.delete(context(caller), "ports", port_id)
        except errors.NotFound:
            return  # already gone: what a delete wants
        except errors.NeutronError as exc:
            raise NetworkError(exc.status, exc.msg) from None
