"""Lists paged in the database: filters, sort, marker and limit as SQL.

``query.apply`` defines a list's answer on views; this module gives the same answer
from the database when every filter and sort key is a plain column whose value the
view shows as it is (a string, an integer, a boolean): filters become ``IN`` lists,
the order ``ORDER BY`` (nulls last ascending, first descending, strings in code
point order, as the views sort), the marker a keyset condition and the limit a
``LIMIT``, so a page reads only its rows. ``sql_able`` says when; other lists (tags,
a filter on a time or a JSON value, a sort on a relation) keep ``query.apply``.
"""

from __future__ import annotations

import re

from sqlalchemy import Boolean, DateTime, Integer, String, and_, false, literal, or_, true
from sqlalchemy.orm import Session

from astara.loadbalancer_service import errors
from astara.loadbalancer_service.query import ListQuery

ALIASES = {"tenant_id": "project_id"}
NOT_AS_SHOWN = {"http_version"}  # a string column the view shows as a number
_INT = re.compile(r"-?[0-9]{1,18}")
NULLS = ("", "None", "null")  # what a filter names an unset value by (query._same)


def _column(model, key: str, filtering: bool):
    name = ALIASES.get(key, key)
    if name in NOT_AS_SHOWN:
        return None
    column = model.__table__.columns.get(name)
    if column is None:
        return None
    kinds = (String, Integer, Boolean) if filtering else (String, Integer, Boolean, DateTime)
    return getattr(model, column.key) if isinstance(column.type, kinds) else None


def sql_able(model, q: ListQuery) -> bool:
    if q.tags:
        return False
    return all(_column(model, k, True) is not None for k in q.filters) and \
        all(_column(model, k, False) is not None for k, _ in q.sort)


def _filter(column, values: list[str]):
    """The rows ``query._same`` keeps for ``values``."""
    kind = column.type
    if isinstance(kind, Boolean):
        wanted = {v.lower() in ("true", "1") for v in values
                  if v.lower() in ("true", "1", "false", "0")}
    elif isinstance(kind, Integer):
        wanted = {int(v) for v in values if _INT.fullmatch(v) and str(int(v)) == v}
    else:
        wanted = set(values)
    cond = column.in_(sorted(wanted)) if wanted else false()
    if column.expression.nullable and any(v in NULLS for v in values):
        cond = or_(cond, column.is_(None))
    return cond


def _after(s: Session, column, value, ascending: bool):
    """Rows after ``value`` in this key's order (nulls last ascending, first
    descending), compared in the order the page is sorted in (``_ordered``)."""
    if value is None:
        return false() if ascending else column.is_not(None)
    value = literal(value, column.type)  # a boolean too is compared as a value
    key = _ordered(s, column)
    return or_(key > value, column.is_(None)) if ascending else key < value


def _same(column, value):
    return column.is_(None) if value is None else column == value


def _ordered(s: Session, column):
    """The column as strings are ordered here: code point order, as the views sort
    (PostgreSQL's default collation would put 'a' before 'B' and skip or repeat rows
    across pages if the marker compared in one order and the sort used the other)."""
    if isinstance(column.type, String) and s.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def _order(s: Session, column, ascending: bool):
    column = _ordered(s, column)
    return column.asc().nulls_last() if ascending else column.desc().nulls_first()


def page(s: Session, stmt, model, q: ListQuery) -> list:
    """The rows of one page of ``stmt`` (already scoped to what the caller sees)."""
    for key, values in q.filters.items():
        stmt = stmt.where(_filter(_column(model, key, True), values))
    keys = [(_column(model, k, False), asc) for k, asc in (q.sort or [("created_at", True)])]
    if all(column.key != "id" for column, _ in keys):
        keys.append((model.id, True))
    backwards = q.page_reverse and q.marker is not None
    if backwards:  # the rows before the marker: the reverse order, then turned back
        keys = [(column, not asc) for column, asc in keys]
    if q.marker is not None:
        found = s.execute(stmt.with_only_columns(*[c for c, _ in keys])
                          .where(model.id == q.marker)).first()
        if found is None:
            raise errors.BadRequest(f"Supplied pagination marker "
                                    f"'{errors.shorten(q.marker, 64)}' is not valid.")
        after = []
        for i, (column, asc) in enumerate(keys):
            same = [_same(c, found[j]) for j, (c, _) in enumerate(keys[:i])]
            after.append(and_(true(), *same, _after(s, column, found[i], asc)))
        stmt = stmt.where(or_(*after))
    stmt = stmt.order_by(*[_order(s, column, asc) for column, asc in keys])
    if q.limit:
        stmt = stmt.limit(q.limit)
    rows = list(s.scalars(stmt))
    return rows[::-1] if backwards else rows
