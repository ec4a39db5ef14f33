"""neutron-lbaas list requests: filters on the attributes of its views, ``fields=``,
``sort_key``/``sort_dir`` and pagination, as the rest of the network API takes them (pure).

The filters on relations the views hide (a listener's or pool's ``loadbalancer_id``,
a monitor's ``pool_id``) go to the service; the others are matched on the views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from astara.network_service import errors
from astara.network_service import query as nquery
from astara.network_service.lbaasv2.views import HIDDEN_FILTERS, KEYS

MAX_PARAMS = 64
_RELATIONS = {"listeners", "pools", "loadbalancers", "members", "sni_container_refs",
              "l7policies", "session_persistence"}


# Filters named after a hidden attribute, matched on the relation a view shows.
ALIASES = {"pools": {"listener_id": "listeners"}}


@dataclass
class ListRequest:
    page: nquery.ListQuery
    filters: dict[str, list[str]] = field(default_factory=dict)  # on the views
    hidden: dict[str, list[str]] = field(default_factory=dict)  # for the service


def parse(plural: str, items: list[tuple[str, str]], max_page: int) -> ListRequest:
    if len(items) > MAX_PARAMS:
        raise errors.bad_attr(f"At most {MAX_PARAMS} query parameters are accepted")
    page_items, filters, hidden = [], {}, {}
    for key, value in items:
        if "\x00" in key or "\x00" in value:
            raise errors.bad_attr("Query parameters may not contain NUL characters")
        if key in ("fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"):
            page_items.append((key, value))
        elif key in HIDDEN_FILTERS[plural]:
            hidden.setdefault(key, []).append(value)
        elif key in KEYS[plural] or key in ALIASES.get(plural, {}):
            filters.setdefault(ALIASES.get(plural, {}).get(key, key), []).append(value)
        else:
            raise errors.bad_attr(f"[{errors.shorten(key)}] is invalid attribute for filtering")
    sortable = nquery.ListQuery()
    page = _page(page_items, max_page, sortable)
    for key, _ in page.sort:
        if key not in KEYS[plural] or key in _RELATIONS:
            raise errors.bad_attr(f"{errors.shorten(key)} is invalid attribute for sort_keys")
    return ListRequest(page, filters, hidden)


def _page(items: list[tuple[str, str]], max_page: int, q: nquery.ListQuery) -> nquery.ListQuery:
    keys, dirs = [], []
    for key, value in items:
        if key == "fields":
            q.fields.extend(v for v in value.split(",") if v)
        elif key == "sort_key":
            keys.append(value)
        elif key == "sort_dir":
            dirs.append(value)
        elif key == "limit":
            try:
                limit = int(value) if len(value) < 20 else int("x")
            except ValueError:
                limit = -1
            if limit < 0:
                raise errors.bad_attr(f"Limit must be an integer 0 or greater and not "
                                      f"'{errors.shorten(value)}'")
            q.limit = min(limit, max_page) if limit else None
        elif key == "marker":
            q.marker = value
        else:
            q.page_reverse = value.lower() == "true"
    if len(dirs) not in (0, len(keys)):
        raise errors.bad_attr("The number of sort_keys and sort_dirs must be same")
    for i, key in enumerate(keys):
        direction = dirs[i] if dirs else "asc"
        if direction not in ("asc", "desc"):
            raise errors.bad_attr(f"{errors.shorten(direction)} is invalid value for "
                                  "sort_dirs, valid value is 'asc' and 'desc'")
        q.sort.append((key, direction == "asc"))
    return q


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, dict):
        return _same(value.get("id"), wanted)
    if isinstance(value, bool):
        return wanted.lower() in (("true", "1") if value else ("false", "0"))
    if value is None:
        return wanted in ("", "None", "null")
    return str(value) == wanted


def matches(item: dict, filters: dict[str, list[str]]) -> bool:
    """Every filter holds: a value among those given; a relation containing one."""
    for key, wanted in filters.items():
        value = item.get(key)
        values = value if isinstance(value, list) else [value]
        if not any(_same(v, w) for v in values for w in wanted):
            return False
    return True
