"""The in-tree fake of ``browse_api.OrchestratorAPI``: resources held in memory.

Used by the browse tests and ``bench/browse.py``. It records every command and
poll it is asked for (``calls``), and ``down`` makes every call fail as an
unreachable orchestrator would. ``fleet`` builds N routers shaped like the RPC
API's views, and ``churn`` changes some of them as reconciles would.
"""

from __future__ import annotations

import threading

from astara.cli.browse_api import COMMANDS, KINDS, APIError


class FakeOrchestratorAPI:
    def __init__(self, resources: list[dict] | None = None):
        self._lock = threading.Lock()  # the TUI reads from a worker thread
        self._resources = {r["id"]: dict(r) for r in resources or []}
        self.calls: list[tuple[str, ...]] = []
        self.down: str | None = None  # the message of every failed call, while set
        self.lists = 0

    def _check(self) -> None:
        if self.down is not None:
            raise APIError(self.down)

    def set(self, resources: list[dict]) -> None:
        with self._lock:
            self._resources = {r["id"]: dict(r) for r in resources}

    def resources(self) -> list[dict]:
        self._check()
        with self._lock:
            self.lists += 1
            return [dict(r) for r in self._resources.values()]

    def command(self, kind: str, action: str, rid: str, reason: str = "") -> dict:
        self._check()
        if kind not in KINDS or action not in COMMANDS:
            raise APIError(f"no {kind} command {action!r}")
        with self._lock:
            if rid not in self._resources:
                raise APIError(f"{kind} {rid} not found (HTTP 404)")
            self.calls.append((kind, action, rid))
        return {kind: rid, "kind": kind, "command": action}

    def poll(self) -> dict:
        self._check()
        with self._lock:
            self.calls.append(("poll",))
            return {"queued": len(self._resources)}


def resource(i: int, kind: str = "router", tenant: str = "t0", status: str = "ACTIVE",
             state: str = "up", at: float = 0.0, error: str | None = None) -> dict:
    """One RPC view, with its last steps (the fields browse reads)."""
    rid = f"{'r' if kind == 'router' else 'lb'}-{i:05d}"
    return {
        "id": rid, "kind": kind, "tenant_id": tenant, "status": status, "state": state,
        "healthy": state == "up", "instance_id": f"vm-{i:05d}",
        "management_address": f"fdca:3ba5:a17a:acda::{i:x}", "config_digest": f"d{i}",
        "last_error": error, "floating_ips": [], "check": {"at": at, "ok": True},
        "memory": {"boots": 1, "failed_boots": 0},
        "appliance": {"config_digest": f"d{i}", "applies": 1, "last_error": None,
                      "interfaces": [{"ifname": "ge0", "up": True, "mtu": 1500,
                                      "addresses": [f"fdca:3ba5:a17a:acda::{i:x}/64"]},
                                     {"ifname": "ge1", "up": True, "mtu": 1500,
                                      "addresses": ["172.16.0.1/24"]}],
                      "services": [{"name": "nftables", "healthy": True, "detail": ""},
                                   {"name": "dnsmasq-ge1", "healthy": True, "detail": ""}],
                      "ha_role": None},
        "steps": [{"at": at - 1, "step": "ConfigureVM", "status": "configured",
                   "reason": "config pushed", "outcome": "done", "after": 0.0,
                   "error": None},
                  {"at": at, "step": "Alive", "status": state, "reason": "healthy",
                   "outcome": "requeue", "after": 60.0, "error": error}],
    }


def fleet(n: int, tenants: int = 20, at: float = 0.0) -> list[dict]:
    return [resource(i, tenant=f"tenant-{i % tenants:02d}", at=at) for i in range(n)]


def churn(resources: list[dict], every: int, turn: int, at: float) -> list[dict]:
    """A copy where one resource in ``every`` (shifting with ``turn``) changed state."""
    out = []
    for i, r in enumerate(resources):
        if (i + turn) % every == 0:
            state = "booting" if r["state"] == "up" else "up"
            r = {**r, "state": state, "healthy": state == "up",
                 "status": "BUILD" if state == "booting" else "ACTIVE",
                 "steps": [*r["steps"][-1:], {**r["steps"][-1], "at": at, "status": state}]}
        out.append(r)
    return out
