"""An instance found by its exact name (the orchestrator's look for a router's
appliance: ``GET /servers/detail?name=^<name>$``) reads the (name, project_id) index,
not every live instance of the project: every appliance is the service project's."""

from __future__ import annotations

import httpx
from sqlalchemy import event, inspect

from astara.compute_service.models import NAME_INDEX


def test_an_exact_name_lookup_reads_the_name_index(compute, user):
    indexes = {ix["name"]: ix["column_names"]
               for ix in inspect(compute.db.engine).get_indexes("compute_instances")}
    assert indexes.get(NAME_INDEX) == ["name", "project_id"]
    seen: list[tuple[str, object]] = []

    def statement(conn, cursor, sql, params, *_):
        if "FROM compute_instances" in sql and "compute_instances.name =" in sql:
            seen.append((sql, params))

    event.listen(compute.db.engine, "before_cursor_execute", statement)
    try:
        r = httpx.get(f"{compute.api.url}/v2.1/servers/detail",
                      params={"name": "^ak-0123$"}, headers=user.headers)
    finally:
        event.remove(compute.db.engine, "before_cursor_execute", statement)
    assert r.status_code == 200 and r.json()["servers"] == []
    assert len(seen) == 1, seen  # the exact name went to the database, not a scan after
    if compute.db.engine.dialect.name != "sqlite":
        return  # PostgreSQL plans by its statistics: the index is there to be chosen
    sql, params = seen[0]
    with compute.db.engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", params))
    assert f"USING INDEX {NAME_INDEX}" in plan, plan
