"""Borrowing one router from a running orchestrator, for ``astara-debug-router``.

``hold()`` asks the orchestrator's RPC API (``X-Auth-Token``, as ``astara-ctl``)
to put the router in debug mode, then asks it for a pass and waits until that
pass is the debug exit: from then on its workers leave the router alone (any
step it was in the middle of has finished). On leaving -- normally, on error or
on Ctrl-C -- the router is handed back (``manage``), unless an operator had put
it in debug mode before, in which case it stays so. If handing it back fails,
``LeftInDebug`` says so and how to do it by hand, carrying any error under way.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

TOKEN_HEADER = "X-Auth-Token"
DEBUG_REASON = "debug mode"  # the orchestrator's plan says so when it leaves a router alone


class HoldError(Exception):
    """The orchestrator cannot be asked, or does not confirm; one line for the operator."""


class LeftInDebug(HoldError):
    """Handing the router back failed: it stays in debug mode until an operator acts."""

    def __init__(self, router_id: str, reason: str, under_way: BaseException | None):
        super().__init__(f"router {router_id} left in debug mode: run `astara-ctl router "
                         f"manage {router_id}` ({reason})")
        self.under_way = under_way  # the error (or interrupt) that was ending the hold


@dataclass(frozen=True)
class Hold:
    url: str
    already_held: bool  # an operator had it in debug mode before: it stays so after
    acknowledged_at: float  # the orchestrator's debug exit step, its clock


def rpc_url(hosts: tuple[str, ...], port: int) -> str:
    host = hosts[0] if hosts else "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def last_debug_exit(view: dict | None, after: float) -> float | None:
    """When the orchestrator's latest pass on a router (its RPC view) was a debug exit
    newer than ``after``; None if there is none yet."""
    steps = (view or {}).get("steps") or []
    if not steps:
        return None
    last = steps[-1]
    if last.get("step") == "Exit" and DEBUG_REASON in last.get("reason", "") \
            and last.get("at", 0.0) > after:
        return float(last["at"])
    return None


class Rpc:
    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.url = url
        self._http = httpx.Client(base_url=url, headers={TOKEN_HEADER: token},
                                  timeout=timeout)

    def call(self, method: str, path: str, body: dict | None = None,
             missing_ok: bool = False) -> dict | None:
        try:
            r = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise HoldError(f"orchestrator unreachable at {self.url}: {exc} (use "
                            f"--standalone if no orchestrator runs)") from None
        if r.status_code == 404 and missing_ok:
            return None
        if r.status_code >= 400:
            try:
                msg = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                msg = r.text[:200]
            raise HoldError(f"orchestrator at {self.url}: {msg} (HTTP {r.status_code})")
        return r.json()

    def close(self) -> None:
        self._http.close()


@contextlib.contextmanager
def hold(rpc: Rpc, router_id: str, reason: str, timeout: float = 60.0,
         every: float = 0.2, sleep: Callable[[float], None] = time.sleep,
         releasing: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
         ) -> Iterator[Hold]:
    """Keep the orchestrator away from ``router_id`` for the ``with`` block.

    ``releasing()`` is entered while the router is handed back (the caller ignores
    signals there, so a second Ctrl-C cannot leave the router in debug mode)."""
    snap = rpc.call("GET", "/debug/") or {}
    already = router_id in (snap.get("routers") or {})
    view = (rpc.call("GET", f"/routers/{router_id}", missing_ok=True) or {}).get("router")
    before = max((s.get("at", 0.0) for s in (view or {}).get("steps") or []), default=0.0)
    if not already:
        rpc.call("PUT", f"/router/debug/{router_id}", {"reason": reason})
    try:
        rpc.call("PUT", f"/router/update/{router_id}")  # a pass, to learn it saw the switch
        deadline = time.monotonic() + timeout
        while True:
            view = (rpc.call("GET", f"/routers/{router_id}", missing_ok=True)
                    or {}).get("router")
            if (at := last_debug_exit(view, before)) is not None:
                break
            if time.monotonic() > deadline:
                raise HoldError(f"the orchestrator did not confirm within {timeout:.0f} s "
                                f"that it leaves router {router_id} alone")
            sleep(every)
        yield Hold(rpc.url, already, at)
    finally:
        if not already:
            under_way = sys.exc_info()[1]
            with releasing():
                try:
                    rpc.call("PUT", f"/router/manage/{router_id}")
                except HoldError as exc:
                    raise LeftInDebug(router_id, str(exc), under_way) from under_way
