"""BYONF entries (``/v2.0/byonfs``): a project's own appliance image and flavor.

Admin only, as the upstream ``byonf`` extension's policy: a member's create is 403,
its reads and writes of an entry 404 (``base``-style getter), its list empty. At most
one entry per (project, function_type): a second is 409 ``ByonfExists`` (two racing
creates: the unique key refuses the second, which the API answers 409 too). The
orchestrator reads the entries; nothing here touches a running appliance.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.network_service import errors, views
from astara.network_service import models as m
from astara.network_service.context import RequestContext
from astara.network_service.resources.base import Op, new_id, now


def get_byonf(s: Session, ctx: RequestContext, byonf_id: str) -> m.Byonf:
    row = s.get(m.Byonf, byonf_id)
    if row is None or not ctx.is_admin:
        raise errors.ByonfNotFound(byonf_id=byonf_id)
    return row


def create(op: Op, data: dict) -> m.Byonf:
    if not op.ctx.is_admin:
        raise errors.PolicyNotAuthorized(action="create_byonf")
    for key in ("function_type", "image_uuid"):
        if key not in data:
            raise errors.bad_attr(
                f"Failed to parse request. Required attribute '{key}' not specified")
    if not str(data.get("project_id") or "").strip():
        raise errors.bad_attr("Invalid input for tenant_id. Reason: an entry is for one "
                              "project: it cannot be empty.")
    s = op.session
    taken = s.scalar(select(m.Byonf.id).where(m.Byonf.project_id == data["project_id"],
                                              m.Byonf.function_type == data["function_type"]))
    if taken is not None:
        raise errors.ByonfExists(project_id=errors.shorten(data["project_id"], 64),
                                 function_type=data["function_type"], byonf_id=taken)
    t = now()
    row = m.Byonf(id=new_id(), project_id=data["project_id"],
                  function_type=data["function_type"], image_uuid=data["image_uuid"],
                  flavor_id=data["flavor_id"], created_at=t, updated_at=t)
    s.add(row)
    s.flush()
    op.notifier.emit("byonf.create.end", {"byonf": views.byonf(row, op.ctx)})
    return row


def update(op: Op, byonf_id: str, data: dict) -> m.Byonf:
    row = get_byonf(op.session, op.ctx, byonf_id)
    for key, value in data.items():
        setattr(row, key, value)
    row.updated_at = now()
    op.session.flush()
    op.notifier.emit("byonf.update.end", {"byonf": views.byonf(row, op.ctx)})
    return row


def delete_(op: Op, byonf_id: str) -> None:
    row = get_byonf(op.session, op.ctx, byonf_id)
    view = views.byonf(row, op.ctx)
    op.session.delete(row)
    op.session.flush()
    op.notifier.emit("byonf.delete.end", {"byonf": view, "byonf_id": byonf_id})
