"""What ``astara-ctl browse`` asks of the orchestrator: a small interface and its RPC twin.

``OrchestratorAPI`` is all the TUI (``browse_app``) calls; ``RpcOrchestratorAPI`` is
the real one, over the orchestrator's RPC API with the very requests ``astara-ctl``
sends (``ctl.request`` and ``ctl.call``: ``router list``, ``loadbalancer list``,
``<kind> rebuild|update|debug|manage ID``, ``poll``). ``browse_fake`` is its in-tree
fake. Every failure is an ``APIError`` whose message is one line for the screen.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from astara.cli import ctl

KINDS = ("router", "loadbalancer")
COMMANDS = ("rebuild", "update", "debug", "manage")


class APIError(Exception):
    """A call the orchestrator did not answer, or refused; the message is one line."""


class OrchestratorAPI(Protocol):
    def resources(self) -> list[dict]:
        """Every router and load balancer the orchestrator holds (its RPC views)."""

    def command(self, kind: str, action: str, rid: str, reason: str = "") -> dict:
        """``astara-ctl <kind> <action> ID``: one of ``COMMANDS`` on one resource."""

    def poll(self) -> dict:
        """``astara-ctl poll``: re-check every router now."""


class RpcOrchestratorAPI:
    """The orchestrator's RPC API, through ``astara-ctl``'s own requests."""

    def __init__(self, url: str, token: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(base_url=url, timeout=timeout, transport=transport,
                                  headers={ctl.TOKEN_HEADER: token})

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return ctl.call(self._http, method, path, body)
        except ctl.RpcError as exc:
            raise APIError(str(exc)) from None

    def resources(self) -> list[dict]:
        out: list[dict] = []
        for kind in KINDS:
            method, path, key = ctl.request(kind, "list", None)
            got = self._call(method, path)
            listed = got.get(key) if isinstance(got, dict) else None
            if not isinstance(listed, list):
                raise APIError(f"the orchestrator's {path} answer has no {key!r} list")
            out.extend({**r, "kind": r.get("kind") or kind} for r in listed
                       if isinstance(r, dict))
        return out

    def command(self, kind: str, action: str, rid: str, reason: str = "") -> dict:
        if kind not in KINDS or action not in COMMANDS:
            raise APIError(f"no {kind} command {action!r}")
        method, path, _ = ctl.request(kind, action, rid)
        return self._call(method, path, {"reason": reason})

    def poll(self) -> dict:
        return self._call("PUT", "/poll/")
