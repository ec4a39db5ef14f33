"""The decisions of ``astara-ctl browse``, pure: rows, filter, sort, the table's changes.

Input: the orchestrator's RPC views (``browse_api``) and the time of the fetch; output:
the cells of each row, which rows a filter keeps, and what the table must change
(``diff``) so a refresh updates the rows that changed instead of rebuilding 2,000 of
them. ``browse_app`` applies the changes; ``browse_detail`` renders the detail pane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# (key, header) of every column, in order.
COLUMNS = (("kind", "KIND"), ("id", "ID"), ("tenant", "TENANT"), ("status", "STATUS"),
           ("state", "STATE"), ("appliance", "APPLIANCE"), ("last_error", "LAST ERROR"),
           ("age", "AGE"))
KEYS = tuple(k for k, _ in COLUMNS)
ERROR_WIDTH = 48  # the cell shows this much of the last error; the detail pane all of it

Row = tuple[str, ...]


def one_line(text: object, width: int | None = None) -> str:
    flat = " ".join(str(text).split())
    return flat if width is None or len(flat) <= width else flat[: width - 1] + "…"


def age(seconds: float | None) -> str:
    """Coarse on purpose: a healthy resource is looked at every health check (a minute
    or so), so its cell stays "<1m" instead of changing (and being redrawn) on every
    refresh; past a minute a cell changes at most once a minute."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return "<1m"


_AGE = re.compile(r"^(\d+)([mhd])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


def age_seconds(text: str) -> float:
    """An ``age`` cell back to seconds, for sorting; "-" (never looked at) sorts last."""
    if text == "<1m":
        return 0
    m = _AGE.match(text)
    return int(m.group(1)) * _UNIT[m.group(2)] if m else float("inf")


def last_at(view: dict) -> float | None:
    steps = view.get("steps")
    if isinstance(steps, list) and steps and isinstance(steps[-1], dict):
        at = steps[-1].get("at")
        return at if isinstance(at, int | float) else None
    return None


def row(view: dict, now: float) -> Row:
    """One resource's cells. AGE is how long ago the orchestrator last took a step for it
    (the RPC views carry no creation time)."""
    def cell(key: str) -> str:
        value = view.get(key)
        return "-" if value is None or value == "" else one_line(value)
    at = last_at(view)
    return (cell("kind") if view.get("kind") else "router", cell("id"), cell("tenant_id"),
            cell("status"), cell("state"), cell("instance_id"),
            one_line(view["last_error"], ERROR_WIDTH) if view.get("last_error") else "-",
            age(None if at is None else now - at))


@dataclass(frozen=True)
class Filter:
    tenant: str | None = None
    status: str | None = None  # matches STATUS or STATE
    words: tuple[str, ...] = ()


def parse_filter(text: str) -> Filter:
    """``tenant:ID status:WORD free text``: every part must match (case-insensitive);
    free words are looked for in every cell."""
    tenant = status = None
    words: list[str] = []
    for part in text.split()[:32]:
        low = part.lower()
        if low.startswith("tenant:") and len(low) > 7:
            tenant = low[7:]
        elif low.startswith("status:") and len(low) > 7:
            status = low[7:]
        else:
            words.append(low)
    return Filter(tenant, status, tuple(words))


def matches(f: Filter, r: Row) -> bool:
    if f.tenant is not None and f.tenant not in r[2].lower():
        return False
    if f.status is not None and f.status not in (r[3].lower(), r[4].lower()):
        return False
    if f.words:
        text = " ".join(r).lower()
        return all(w in text for w in f.words)
    return True


def sort_value(column: str, cell: str, rid: str = "") -> tuple:
    """What a row sorts by in ``column``: "-" last, ages by seconds, then the text;
    ties by id."""
    if column == "age":
        return (age_seconds(cell), rid)
    return (cell == "-", cell.lower(), rid)


@dataclass
class Changes:
    removed: list[str] = field(default_factory=list)
    added: list[tuple[str, Row]] = field(default_factory=list)
    changed: list[tuple[str, int, str]] = field(default_factory=list)  # key, column, cell

    def __bool__(self) -> bool:
        return bool(self.removed or self.added or self.changed)

    def touches(self, column: int) -> bool:
        """Whether the order sorted by ``column`` may have changed."""
        return bool(self.added) or any(c == column for _, c, _ in self.changed)


# Textual's DataTable renumbers every row on each removal (O(rows)): past this many
# removals at once (a filter typed), clearing and adding the wanted rows is cheaper.
REBUILD_AFTER = 16


def rebuild(changes: Changes) -> bool:
    return len(changes.removed) > REBUILD_AFTER


def diff(shown: dict[str, Row], wanted: dict[str, Row]) -> Changes:
    """What turns the table holding ``shown`` into one holding ``wanted``."""
    ch = Changes(removed=[k for k in shown if k not in wanted])
    for key, new in wanted.items():
        old = shown.get(key)
        if old is None:
            ch.added.append((key, new))
        elif old != new:
            ch.changed.extend((key, i, v) for i, (o, v) in enumerate(zip(old, new, strict=True))
                              if o != v)
    return ch


def visible(rows: dict[str, Row], f: Filter) -> dict[str, Row]:
    return rows if f == Filter() else {k: r for k, r in rows.items() if matches(f, r)}
