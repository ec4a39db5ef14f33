"""List requests as Octavia answers them: filters, tags, ``fields=``, sorting, pagination.

``parse`` turns the query string into a ``ListQuery`` (pure); ``apply`` filters the
views, sorts them (``created_at`` then ``id`` by default, as Octavia), cuts the page
after ``marker`` (before it with ``page_reverse``) and ``links`` builds the
``<plural>_links`` Octavia returns: ``previous`` when a marker was given, ``next``
when the page is full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from astara.loadbalancer_service import errors

CONTROL = {"fields", "sort", "sort_key", "sort_dir", "limit", "marker", "page_reverse"}
TAG_FILTERS = {"tags", "tags-any", "not-tags", "not-tags-any"}
MAX_PARAMS = 64


@dataclass
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    tags: dict[str, set[str]] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (key, ascending)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False


def parse(items: list[tuple[str, str]], filterable: set[str], max_page: int) -> ListQuery:
    """``filterable``: the keys of the resource's views (Octavia filters by any)."""
    if len(items) > MAX_PARAMS:
        raise errors.BadRequest("One or more arguments are either duplicate or invalid")
    q = ListQuery()
    for key, value in items:
        if "\x00" in key or "\x00" in value:
            raise errors.BadRequest("One or more arguments are either duplicate or invalid")
        if key == "fields":
            q.fields.extend(f for f in value.split(",") if f)
        elif key == "sort":
            for part in value.split(","):
                name, _, direction = part.partition(":")
                q.sort.append(_sort_key(name.strip(), direction.strip() or "asc", filterable))
        elif key == "sort_key":
            q.sort.append(_sort_key(value, "asc", filterable))
        elif key == "sort_dir":
            if not q.sort:
                raise errors.FrameworkError(400, f"Supplied sort direction "
                                            f"'{errors.shorten(value, 64)}' is not valid.")
            q.sort[-1] = _sort_key(q.sort[-1][0], value, filterable)
        elif key == "limit":
            q.limit = _limit(value, max_page)
        elif key == "marker":
            q.marker = value
        elif key == "page_reverse":
            q.page_reverse = value.strip().lower() in ("true", "1", "yes", "on")
        elif key in TAG_FILTERS:
            q.tags.setdefault(key, set()).update(t for t in value.split(",") if t)
        elif key in filterable:
            q.filters.setdefault(key, []).append(value)
        else:
            raise errors.BadRequest("One or more arguments are either duplicate or invalid")
    return q


def _sort_key(name: str, direction: str, filterable: set[str]) -> tuple[str, bool]:
    if name not in filterable:
        raise errors.BadRequest(f"Supplied sort key '{errors.shorten(name, 64)}' is not valid.")
    if direction not in ("asc", "desc"):
        raise errors.FrameworkError(400, f"Supplied sort direction "
                                    f"'{errors.shorten(direction, 64)}' is not valid.")
    return name, direction == "asc"


def _limit(value: str, max_page: int) -> int | None:
    try:
        limit = int(value) if len(value) < 20 else int("x")
    except ValueError:
        raise errors.FrameworkError(400, f"Supplied pagination limit "
                                    f"'{errors.shorten(value, 64)}' is not valid.") from None
    if limit < 0:
        return None  # Octavia: no limit
    return min(limit, max_page) if limit else None


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() in (("true", "1") if value else ("false", "0"))
    if value is None:
        return wanted in ("", "None", "null")
    if isinstance(value, list):
        # loadbalancers=[{"id": ...}] style relations filter on their ids
        return any(_same(v.get("id") if isinstance(v, dict) else v, wanted) for v in value)
    return str(value) == wanted


def matches(item: dict, q: ListQuery) -> bool:
    for key, wanted in q.filters.items():
        if not any(_same(item.get(key), w) for w in wanted):
            return False
    have = set(item.get("tags") or ())
    t = q.tags
    if "tags" in t and not t["tags"] <= have:
        return False
    if "tags-any" in t and not t["tags-any"] & have:
        return False
    if "not-tags" in t and t["not-tags"] and t["not-tags"] <= have:
        return False
    return not ("not-tags-any" in t and t["not-tags-any"] & have)


def _sort_value(v: Any) -> tuple:
    if isinstance(v, bool | int | float):
        return (v is None, 0, v, "")
    return (v is None, 1, 0, "" if v is None else str(v))


def apply(items: list[dict], q: ListQuery) -> list[dict]:
    """Filter, sort and cut one page; an unknown marker is Octavia's 400."""
    items = [it for it in items if matches(it, q)]
    order = q.sort or [("created_at", True)]
    if all(k != "id" for k, _ in order):
        order = [*order, ("id", True)]
    for key, ascending in reversed(order):
        items.sort(key=lambda it, k=key: _sort_value(it.get(k)), reverse=not ascending)
    if q.marker is not None:
        idx = next((i for i, it in enumerate(items) if it.get("id") == q.marker), None)
        if idx is None:
            raise errors.BadRequest(f"Supplied pagination marker "
                                    f"'{errors.shorten(q.marker, 64)}' is not valid.")
        items = items[:idx] if q.page_reverse else items[idx + 1:]
    if q.limit:
        items = items[-q.limit:] if q.page_reverse and q.marker is not None else \
            items[:q.limit]
    return items


def links(base_url: str, items: list[dict], q: ListQuery,
          params: list[tuple[str, str]]) -> list[dict]:
    if not q.limit or not items:
        return []
    keep = "&".join(f"{quote(k, safe='')}={quote(v, safe=':,')}" for k, v in params
                    if k not in ("marker", "page_reverse"))
    prefix = f"{base_url}?{keep}&" if keep else f"{base_url}?"
    out = []
    if q.marker is not None:
        out.append({"href": f"{prefix}marker={items[0]['id']}&page_reverse=True",
                    "rel": "previous"})
    if len(items) == q.limit:
        out.append({"href": f"{prefix}marker={items[-1]['id']}", "rel": "next"})
    return out


def select_fields(item: dict, fields: list[str]) -> dict:
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}
