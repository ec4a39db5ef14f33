"""Server groups in the database: Nova's os-server-groups for ``routes``, and the
``group`` hint of a server create for ``service`` (the group the caller may use, and
joining it under its row lock: the member quota and a hard policy checked again).
Bodies and views are ``server_groups``'; placement's policies ``placement.choose``'s.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from astara.compute_service import jobs
from astara.compute_service.api import errors, placement, server_groups
from astara.compute_service.api.bodies import is_uuid
from astara.compute_service.api.context import Context
from astara.compute_service.models import Instance, ServerGroup, ServerGroupMember
from astara.compute_service.settings import ComputeSettings
from astara.db.engine import Database

LOOKUP_CHUNK = 500  # ids per IN (...) query: far below any database's parameter limit


class Raced(Exception):
    """A hard group policy no longer allows the host chosen (a concurrent boot)."""


def hint_group(s, ctx: Context, group_id: str) -> placement.Group:
    """The ``group`` hint's group, if the caller may see it (its project's; an
    admin's: any)."""
    row = s.get(ServerGroup, group_id)
    if row is None or not (ctx.is_admin or row.project_id == ctx.project_id):
        raise errors.BadRequest(server_groups.not_found(group_id).message)
    group = placement.group_of(s, group_id)
    assert group is not None
    return group


def join(s, group_id: str, server_id: str, host: str | None) -> None:
    """Under the group's row lock: its member quota, and whether a hard policy still
    allows ``host`` now that concurrent boots are counted."""
    group = placement.group_of(s, group_id, lock=True)
    if group is None:  # deleted since it was read
        raise errors.BadRequest(server_groups.not_found(group_id).message)
    count = s.scalar(select(func.count()).select_from(ServerGroupMember).join(
        Instance, Instance.id == ServerGroupMember.instance_id).where(
        ServerGroupMember.group_id == group_id, Instance.deleted.is_(False)))
    if count >= server_groups.MAX_MEMBERS:
        raise errors.Forbidden(server_groups.MEMBERS_OVER)
    if host and placement.choose([(1, host)], group=group) is None:
        raise Raced
    s.add(ServerGroupMember(instance_id=server_id, group_id=group_id))


class ServerGroups:
    def __init__(self, db: Database, settings: ComputeSettings):
        self.db, self.settings = db, settings

    @staticmethod
    def _members(s, group_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {g: [] for g in group_ids}
        for gid in range(0, len(group_ids), LOOKUP_CHUNK):
            rows = s.execute(select(ServerGroupMember.group_id, Instance.id).join(
                Instance, Instance.id == ServerGroupMember.instance_id).where(
                ServerGroupMember.group_id.in_(group_ids[gid:gid + LOOKUP_CHUNK]),
                Instance.deleted.is_(False)).order_by(Instance.created_at, Instance.id))
            for group_id, instance_id in rows:
                out[group_id].append(instance_id)
        return out

    def _group_row(self, s, ctx: Context, group_id: str, lock: bool = False) -> ServerGroup:
        stmt = select(ServerGroup).where(ServerGroup.id == group_id)
        if not ctx.is_admin:
            stmt = stmt.where(ServerGroup.project_id == ctx.project_id)
        row = s.scalar(stmt.with_for_update() if lock else stmt) if is_uuid(group_id) \
            else None
        if row is None:
            raise server_groups.not_found(group_id)
        return row

    def groups_of(self, server_id: str) -> list[str]:
        """The group a server was booted into (a list of at most one, as Nova's)."""
        with self.db.read() as s:
            return list(s.scalars(select(ServerGroupMember.group_id).join(
                ServerGroup, ServerGroup.id == ServerGroupMember.group_id).where(
                ServerGroupMember.instance_id == server_id)))

    def create(self, ctx: Context,
                     req: server_groups.GroupRequest) -> tuple[ServerGroup, list[str]]:
        with self.db.write() as s:
            # the project's quota usage row serializes its creates (as for instances)
            placement.usage_row(s, ctx.project_id)
            usage = s.scalar(select(func.count()).select_from(ServerGroup).where(
                ServerGroup.project_id == ctx.project_id))
            # a project of unlimited instances (the orchestrator's, by default: one group
            # per HA router) has unlimited groups too
            unlimited = dict(self.settings.quota_instances_overrides).get(
                ctx.project_id, 0) < 0
            if usage >= server_groups.MAX_GROUPS and not unlimited:
                raise errors.Forbidden(server_groups.GROUPS_OVER)
            row = ServerGroup(id=str(uuid.uuid4()), project_id=ctx.project_id,
                              user_id=ctx.user_id, name=req.name, policy=req.policy,
                              max_server_per_host=req.max_server_per_host,
                              created_at=jobs.now())
            s.add(row)
            s.flush()
            s.expunge(row)
        return row, []

    def list(self, ctx: Context, all_projects: bool) -> list[tuple[ServerGroup, list[str]]]:
        with self.db.read() as s:
            stmt = select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.id)
            if not (ctx.is_admin and all_projects):
                stmt = stmt.where(ServerGroup.project_id == ctx.project_id)
            rows = list(s.scalars(stmt))
            members = self._members(s, [r.id for r in rows])
            s.expunge_all()
        return [(r, members[r.id]) for r in rows]

    def show(self, ctx: Context, group_id: str) -> tuple[ServerGroup, list[str]]:
        with self.db.read() as s:
            row = self._group_row(s, ctx, group_id)
            members = self._members(s, [row.id])[row.id]
            s.expunge_all()
        return row, members

    def delete(self, ctx: Context, group_id: str) -> None:
        """Its members stay (as in Nova); they are no longer in a group."""
        with self.db.write() as s:
            row = self._group_row(s, ctx, group_id, lock=True)
            for member in s.scalars(select(ServerGroupMember).where(
                    ServerGroupMember.group_id == row.id)):
                s.delete(member)
            s.delete(row)
