"""The consistent hash ring: which member owns a resource. Pure: names in, names out.

Each member name is hashed to ``VNODES`` points on a 64-bit circle; a resource belongs
to the member of the first point at or after its id's hash. A member joining takes
only resources that then map to it; a member leaving gives away only its own. Every
orchestrator computes the same answer from the same member list, with no talk.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

VNODES = 128
SPACE = 1 << 64


def _point(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Ring:
    members: tuple[str, ...]
    _points: tuple[int, ...] = field(repr=False, compare=False, default=())
    _owners: tuple[str, ...] = field(repr=False, compare=False, default=())

    @classmethod
    def of(cls, members: Iterable[str]) -> Ring:
        names = tuple(sorted(set(members)))
        # Ties (two names on one point) go to the smaller name: the same on every member.
        pairs = sorted((_point(f"{m}#{i}"), m) for m in names for i in range(VNODES))
        return cls(names, tuple(p for p, _ in pairs), tuple(m for _, m in pairs))

    def owner(self, resource_id: str) -> str | None:
        """The member owning ``resource_id`` (None: no member at all)."""
        if not self._points:
            return None
        i = bisect.bisect_left(self._points, _point(resource_id))
        return self._owners[i % len(self._owners)]

    def assign(self, resource_ids: Iterable[str]) -> dict[str, str | None]:
        return {rid: self.owner(rid) for rid in resource_ids}

    def mine(self, me: str, resource_ids: Iterable[str]) -> set[str]:
        return {rid for rid in resource_ids if self.owner(rid) == me}

    def shares(self) -> dict[str, float]:
        """Each member's fraction of the circle (what it owns of many resources)."""
        out = dict.fromkeys(self.members, 0.0)
        for i, p in enumerate(self._points):
            # A point owns the arc since the previous one (the first: since the last,
            # round the circle).
            prev = self._points[i - 1] if i else self._points[-1] - SPACE
            out[self._owners[i]] += (p - prev) / SPACE
        return out


def moves(before: Ring, after: Ring, resource_ids: Iterable[str]) -> dict[str, tuple]:
    """Resources whose owner changes from ``before`` to ``after``: id -> (old, new)."""
    out = {}
    for rid in resource_ids:
        old, new = before.owner(rid), after.owner(rid)
        if old != new:
            out[rid] = (old, new)
    return out
