"""List requests as Neutron answers them: filters, ``fields=``, sorting, pagination.

``parse`` turns query parameters into a ``ListQuery`` (pure); the service
applies column filters in SQL, the rest here on the views, then sorts by the
sort keys (``id`` breaking ties), cuts the page after ``marker`` and builds the
``<plural>_links`` Neutron returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from astara.network_service import errors
from astara.network_service import validators as v
from astara.network_service.attributes import Resource
from astara.network_service.context import RequestContext

CONTROL = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse",
           "changed_since"}


@dataclass
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (key, ascending)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False
    changed_since: datetime | None = None  # UTC, naive (standard-attr-timestamp)


def parse(resource: Resource, items: list[tuple[str, str]], ctx: RequestContext,
          max_page: int) -> ListQuery:
    q = ListQuery()
    keys, dirs = [], []
    for key, value in items:
        if "\x00" in key or "\x00" in value:
            raise errors.bad_attr("Query parameters may not contain NUL characters")
        if key == "fields":
            q.fields.extend(v for v in value.split(",") if v)
        elif key == "sort_key":
            keys.append(value)
        elif key == "sort_dir":
            dirs.append(value)
        elif key == "limit":
            try:
                q.limit = int(value)
            except ValueError:
                raise errors.bad_attr(f"Limit must be an integer 0 or greater and not "
                                      f"'{errors.shorten(value)}'") from None
            if q.limit < 0:
                raise errors.bad_attr(f"Limit must be an integer 0 or greater and not "
                                      f"'{errors.shorten(value)}'")
            q.limit = min(q.limit, max_page) if q.limit else None
        elif key == "marker":
            q.marker = value
        elif key == "page_reverse":
            q.page_reverse = value.lower() == "true"
        elif key == "changed_since":
            q.changed_since = _since(value)
        else:
            attr = resource.attrs.get(key)
            if attr is None and key != "fixed_ips":
                raise errors.bad_attr(f"[{errors.shorten(key)}] is invalid attribute for filtering")
            if attr is not None and attr.admin_see and not ctx.is_admin:
                raise errors.bad_attr(f"[{errors.shorten(key)}] is invalid attribute for filtering")
            q.filters.setdefault(key, []).append(_filter_value(key, value))
    if len(dirs) not in (0, len(keys)):
        raise errors.bad_attr("The number of sort_keys and sort_dirs must be same")
    for i, key in enumerate(keys):
        if key not in resource.attrs or resource.attrs[key].admin_see and not ctx.is_admin:
            raise errors.bad_attr(f"{errors.shorten(key)} is invalid attribute for sort_keys")
        d = dirs[i] if dirs else "asc"
        if d not in ("asc", "desc"):
            raise errors.bad_attr(f"{errors.shorten(d)} is invalid value for sort_dirs, "
                                  "valid value is 'asc' and 'desc'")
        q.sort.append((key, d == "asc"))
    return q


def _since(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise errors.InvalidInput(error_message="The input changed_since must be in the "
                                  "following format: YYYY-MM-DDTHH:MM:SS") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def _updated(item: dict) -> datetime:
    return datetime.fromisoformat(item["updated_at"]).replace(tzinfo=None)


# Filters whose values are addresses: a value that is no address is refused, as in a body.
_ADDRESS_FILTERS = {"gateway_ip", "floating_ip_address", "fixed_ip_address"}


def _filter_value(key: str, value: str) -> str:
    if key in _ADDRESS_FILTERS and value not in ("", "None", "null"):
        return v.ip_address(key, value)
    if key == "cidr":
        return v.cidr(key, value)
    if key == "fixed_ips":
        part, _, wanted = value.partition("=")
        if part == "ip_address":
            return f"ip_address={v.ip_address('ip_address', wanted)}"
    return value


def matches(item: dict, filters: dict[str, list[str]]) -> bool:
    for key, wanted in filters.items():
        if key == "fixed_ips":
            continue
        value = item.get(key)
        if isinstance(value, list):
            if not any(_same(v, w) for v in value for w in wanted):
                return False
        elif not any(_same(value, w) for w in wanted):
            return False
    return True


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() in (("true", "1") if value else ("false", "0"))
    if value is None:
        return wanted in ("", "None", "null")
    return str(value) == wanted


def _sort_value(v: Any) -> tuple:
    return (v is None, str(v) if not isinstance(v, (int, float)) else v)


def page(items: list[dict], q: ListQuery) -> tuple[list[dict], bool]:
    """Keep what changed since ``changed_since``, sort, cut after the marker, return the
    page and whether more items follow."""
    if q.changed_since is not None:
        items = [it for it in items if _updated(it) >= q.changed_since]
    order = q.sort or [("id", True)]
    if all(k != "id" for k, _ in order):
        order = [*order, ("id", True)]
    for key, ascending in reversed(order):
        items.sort(key=lambda it, k=key: _sort_value(it.get(k)), reverse=not ascending)
    if q.page_reverse:
        items.reverse()
    if q.marker is not None:
        idx = next((i for i, it in enumerate(items) if it.get("id") == q.marker), None)
        if idx is None:
            raise errors.NotFound(message=f"Marker {errors.shorten(q.marker)} could not be found.",
                                  type_="NotFound")
        items = items[idx + 1:]
    if q.limit:
        more = len(items) > q.limit
        items = items[: q.limit]
    else:
        more = False
    if q.page_reverse:
        items.reverse()
    return items, more


def links(base_url: str, items: list[dict], q: ListQuery,
          params: list[tuple[str, str]]) -> list[dict]:
    """The links Neutron's ``get_pagination_links`` gives: ``next`` unless a forward
    page came back short, ``previous`` unless a reverse page did (so a full first
    page has both). ``next`` starts after the last item, ``previous`` before the first."""
    if not q.limit:
        return []
    keep = [(k, v) for k, v in params if k not in ("marker", "page_reverse")]
    short = len(items) < q.limit
    out = []
    if not (short and not q.page_reverse):
        marker = [("marker", items[-1]["id"])] if items else []
        out.append({"rel": "next", "href": f"{base_url}?{urlencode(keep + marker)}"})
    if not (short and q.page_reverse):
        marker = [("marker", items[0]["id"])] if items else []
        out.append({"rel": "previous", "href": f"{base_url}?"
                    f"{urlencode(keep + marker + [('page_reverse', 'True')])}"})
    return out


def select_fields(item: dict, fields: list[str]) -> dict:
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}
