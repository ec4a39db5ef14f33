"""Fencing at the appliance: which orchestrator tenure a config push comes from.

In a cluster (``[coordination] enabled``) each push carries the pushing member's lease
on the resource: ``X-Astara-Epoch`` (the lease row's epoch, which grows each time the
row changes hands) and ``X-Astara-Owner`` (the member's lease owner token, for the
logs). The appliance keeps the highest epoch it accepted and refuses an older one
(409). A member that adopts an appliance without pushing to it records its epoch there
first (``PUT /v1/system/tenure/``, the headers alone, nothing applied), so a member
paused past its lease is refused whether its successor pushed or only adopted. A push
without an epoch (a single node) is accepted as it always was.

An operator overriding the fence (``astara-debug-router --override-fence``) pushes with
no epoch and ``X-Astara-Fence-Override`` naming who: the appliance applies it whatever
epoch it holds, records nothing, and logs a WARNING naming the operator.

Read by the orchestrator's appliance client (sends) and the appliance API (checks).
"""

from __future__ import annotations

from dataclasses import dataclass

EPOCH_HEADER = "X-Astara-Epoch"
OWNER_HEADER = "X-Astara-Owner"
TENURE_PATH = "/v1/system/tenure/"  # PUT: record the headers' epoch, apply nothing
# The header's bound (a signed 64-bit integer); the lease row's column is an Integer
# (int4 on PostgreSQL), so our own epochs stay below 2**31 (``cluster.leases``).
MAX_EPOCH = 2**63 - 1
MAX_OWNER = 255  # the lease row's owner column
OVERRIDE_HEADER = "X-Astara-Fence-Override"  # who pushes past the fence (no epoch)
# How far an appliance's word may raise a member's epoch (``cluster.leases.advance``): a
# restored database loses a few hand-overs, not a thousand; and 2**30 keeps the row
# 2**30 hand-overs below its column's limit.
JUMP_MAX = 1000
FOLLOW_MAX = 2**30


@dataclass(frozen=True)
class Tenure:
    """One member's hold on a resource: its lease epoch and owner token."""

    epoch: int
    owner: str

    def headers(self) -> dict[str, str]:
        return {EPOCH_HEADER: str(self.epoch), OWNER_HEADER: self.owner}


def parse(epoch: str | None, owner: str | None) -> Tenure | None:
    """The tenure in a push's headers (None: no epoch, a single node). Raises
    ValueError for an epoch that is not a decimal integer in 0..MAX_EPOCH."""
    if epoch is None:
        return None
    if not epoch.isascii() or not epoch.isdigit() or len(epoch) > 19:
        raise ValueError(f"{EPOCH_HEADER} must be a decimal integer")
    value = int(epoch)
    if value > MAX_EPOCH:
        raise ValueError(f"{EPOCH_HEADER} is out of range")
    return Tenure(value, (owner or "")[:MAX_OWNER])


def refusal(accepted: Tenure | None, pushed: Tenure | None) -> str | None:
    """Why the appliance refuses a push from ``pushed`` having accepted ``accepted``
    (the highest epoch so far); None: it applies it. Pure.

    Equal epochs are one tenure (its repeated pushes); no epoch is a single node."""
    if pushed is None or accepted is None or pushed.epoch >= accepted.epoch:
        return None
    return (f"fenced: epoch {pushed.epoch} (owner {pushed.owner or '?'}) is older than "
            f"epoch {accepted.epoch} (owner {accepted.owner or '?'}) accepted before: "
            f"a newer owner exists")


def jump_refused(pushed: int, accepted: int) -> str | None:
    """Why our epoch must not follow an appliance holding ``accepted`` when we pushed
    under ``pushed`` (None: it may). Pure."""
    if accepted < pushed:
        return f"epoch {accepted} is below ours ({pushed})"
    if accepted - pushed > JUMP_MAX:
        return f"epoch {accepted} is more than {JUMP_MAX} ahead of ours ({pushed})"
    if accepted + 1 > FOLLOW_MAX:
        return f"epoch {accepted} is at or above {FOLLOW_MAX}"
    return None


def override_text(who: str) -> str:
    """``who`` as an override header carries it and a log line shows it: printable
    ASCII, bounded."""
    return "".join(c if " " <= c <= "~" else "?" for c in who[:MAX_OWNER])
