"""The tenure ``astara-debug-router`` acts under in a cluster: the one it borrowed.

The debugger borrows a router from the member that owns it (debug mode: the owner
steps aside, still holding the lease). Its pushes carry that lease's epoch, read from
``orch_leases`` at its first step, so an appliance that accepted a newer owner's epoch
refuses them (409), as it refuses a paused member's. Before each step the row is read
again: once it names another tenure (a newer owner took the router), the debugger is
fenced as a member would be and stops. No row at all (a router never owned): epoch 0,
below any epoch an appliance can hold from an owner. Read by ``cli.debug_router``.
"""

from __future__ import annotations

from collections.abc import Callable

from astara.orchestrator.cluster.leases import Lease
from astara.orchestrator.keys import ResourceRef
from astara.wire.tenure import MAX_OWNER, Tenure


def session_tenure(began: Lease | None, now: Lease | None, who: str) -> str | Tenure:
    """Why the debugger may not act (the lease changed hands since its session began),
    or the tenure it pushes under: the epoch it borrowed. Pure."""
    if now is not None and (began is None or (now.owner, now.epoch) != (began.owner,
                                                                        began.epoch)):
        was = f"epoch {began.epoch} of {began.owner}" if began is not None else "no lease"
        return (f"the lease changed hands during this debug session ({was}, now epoch "
                f"{now.epoch} of {now.owner}): a newer owner exists")
    if began is None:
        return Tenure(0, who[:MAX_OWNER])
    return Tenure(began.epoch, f"{who} for {began.owner}"[:MAX_OWNER])


class SessionFence:
    """The executor's fence for the debugger: ``read`` is the lease row of a resource
    (``Leases.get``), asked before each step; the first answer is the borrowed one."""

    def __init__(self, read: Callable[[str], Lease | None], who: str):
        self.read, self.who = read, who
        self.began: dict[str, Lease | None] = {}

    def __call__(self, ref: ResourceRef) -> str | Tenure:
        now = self.read(ref.id)
        began = self.began.setdefault(ref.id, now)
        return session_tenure(began, now, self.who)
