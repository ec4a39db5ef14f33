"""The compute service's unit of work: one transaction per API call.

``ComputeService`` validates against the stored state, records the intent (new
instance, pending task, metadata, ports) and queues the agent's job in the same
transaction, then wakes the agents. It writes only intent and the pending task;
observed state (vm/power state, sequence, fault) belongs to the dispatcher. Port
allocation talks to the network service before the transaction and is undone if
the transaction fails.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from astara.bus.wakeup import WakeupDir
from astara.compute_service import catalog, events, jobs, transitions
from astara.compute_service.api import (
    actions,
    dead_letters,
    errors,
    external_events,
    list_query,
    name_filter,
    placement,
    ports,
    server_group_store,
    services,
)
from astara.compute_service.api.bodies import CreateRequest, NetworkRequest, is_uuid
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import Network
from astara.compute_service.dispatcher import dead_letters as dead_letter_store
from astara.compute_service.dispatcher.consumer import apply_event
from astara.compute_service.models import Instance, Job
from astara.compute_service.settings import ComputeSettings
from astara.db.engine import Database

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
# Places again when a concurrent create took the host chosen (its room, its spread, a
# hard group policy's place): each race lost is another boot taking a host, so this ends
# when hosts run out (pick_host: None, then "No valid host") or at the bound.
PLACE_RACES = 32


class _Raced(Exception):
    """A hard group policy no longer allows the host chosen (a concurrent boot)."""
LOOKUP_CHUNK = 500  # ids per IN (...) query: far below any database's parameter limit


def _hostname(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63] or "server"


def _actor(ctx: Context) -> dict[str, str]:
    return actions.actor(ctx.request_id, ctx.user_id, ctx.project_id)


def _password() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))


class ComputeService:
    def __init__(self, db: Database, network: Network, settings: ComputeSettings,
                 job_wakeup: WakeupDir | None = None):
        self.db = db
        self.network = network
        self.settings = settings
        self.job_wakeup = job_wakeup
        self.groups = server_group_store.ServerGroups(db, settings)

    def _management(self, image_id: str) -> str:
        """The management network a server of ``image_id`` may have its management port
        on: the configured one for an appliance (booted by an admin only), else none."""
        image = catalog.IMAGES.get(image_id)
        return self.settings.management_network \
            if image is not None and image.profile == "appliance" else ""

    def _woken(self) -> None:
        if self.job_wakeup is not None:
            self.job_wakeup.notify()

    def _get(self, session, ctx: Context, server_id: str, lock: bool = False,
             deleted: bool = False) -> Instance:
        if not is_uuid(server_id):  # never a stored id: no query with an odd value
            raise errors.instance_not_found(server_id)
        stmt = select(Instance).where(Instance.id == server_id)
        if not deleted:
            stmt = stmt.where(Instance.deleted.is_(False))
        if not ctx.is_admin:
            stmt = stmt.where(Instance.project_id == ctx.project_id)
        row = session.scalar(stmt.with_for_update() if lock else stmt)
        if row is None:
            raise errors.instance_not_found(server_id)
        return row

    @staticmethod
    def _own(s, ctx: Context, ids: tuple[str, ...]) -> tuple[str, ...]:
        """The ``different_host`` servers the caller may see (its project's; an admin's:
        any): another project's server says nothing of where it runs."""
        if not ids or ctx.is_admin:
            return ids
        return tuple(s.scalars(select(Instance.id).where(
            Instance.id.in_(ids), Instance.project_id == ctx.project_id)))

    def _existing(self, ctx: Context) -> Instance | None:
        """The live instance this project created with the same idempotency key."""
        if not ctx.idempotency_key:
            return None
        with self.db.read() as s:
            row = s.scalar(select(Instance).where(
                Instance.project_id == ctx.project_id, Instance.deleted.is_(False),
                Instance.idempotency_key == ctx.idempotency_key))
            s.expunge_all()  # detached, unexpired: rendered after the read ends
            return row

    def create(self, ctx: Context, req: CreateRequest) -> tuple[Instance, str]:
        """The new (or, on a retried idempotency key, the existing) instance and a
        password."""
        found = self._existing(ctx)
        if found is not None:
            return found, ""
        server_id = str(uuid.uuid4())
        for _ in range(PLACE_RACES):
            try:
                return self._create(ctx, req, server_id)
            except server_group_store.Raced:  # a concurrent boot took the host first
                continue
        return self._create(ctx, req, server_id, placed=False)  # No valid host

    def _create(self, ctx: Context, req: CreateRequest, server_id: str,
                placed: bool = True) -> tuple[Instance, str]:
        with self.db.read() as s:
            group = server_group_store.hint_group(s, ctx, req.group) if req.group else None
            host = placement.pick_host(s, self.settings.agent_down_time,
                                       self._own(s, ctx, req.different_host), group,
                                       project_id=ctx.project_id) \
                if placed else None
        allocated = ports.allocate(self.network, ctx, ctx.project_id, server_id, host or "",
                                   self.settings.availability_zone, req.networks,
                                   self._management(req.image.id)) \
            if host else []
        if allocated:  # one port per requested network, in order
            allocated = [{**port, "tag": want.tag} if want.tag is not None else port
                         for port, want in zip(allocated, req.networks, strict=True)]
        try:
            row = self._insert(ctx, req, server_id, host, allocated)
        except IntegrityError:
            ports.release(self.network, ctx, allocated, server_id=server_id,
                          project_id=ctx.project_id)
            found = self._existing(ctx)
            if found is None:
                raise
            return found, ""
        except BaseException:
            ports.release(self.network, ctx, allocated, server_id=server_id,
                          project_id=ctx.project_id)
            raise
        self._woken()
        return row, _password()

    def _insert(self, ctx: Context, req: CreateRequest, server_id: str, host: str | None,
                allocated: list[dict]) -> Instance:
        stamp = jobs.now()
        with self.db.write() as s:
            limit = dict(self.settings.quota_instances_overrides).get(
                ctx.project_id, self.settings.quota_instances)
            if req.group:
                server_group_store.join(s, req.group, server_id, host)
            placement.reserve_quota(s, ctx.project_id, limit)
            # placed from an earlier read: concurrent creates may have filled the host or
            # (the same project's) made it no longer the one its instances spread to
            if host and not placement.still_fits(
                    s, host, ctx.project_id, spread=not req.group and not req.different_host,
                    down_after=self.settings.agent_down_time):
                raise server_group_store.Raced(host)
            row = Instance(
                id=server_id, project_id=ctx.project_id, user_id=ctx.user_id, name=req.name,
                hostname=_hostname(req.name), description=req.description, host=host or "",
                availability_zone=self.settings.availability_zone, flavor_id=req.flavor.id,
                image_id=req.image.id, metadata_=req.metadata, user_data=req.user_data,
                key_name=req.key_name, idempotency_key=ctx.idempotency_key,
                reservation_id="r-" + secrets.token_hex(4), ports=allocated,
                vm_state="building" if host else "error",
                task_state="scheduling" if host else None, power_state=0, seq=0,
                fault=None if host else {"code": 500, "message": NO_VALID_HOST,
                                         "details": "", "created": stamp.isoformat() + "Z"},
                console="", deleted=False, created_at=stamp, updated_at=stamp)
            s.add(row)
            s.flush()
            if host:
                jobs.queue(s, row, "create", _actor(ctx))
            else:
                jobs.queue(s, row, "create", _actor(ctx), jobs.FAILED, NO_VALID_HOST)
        return row

    def list(self, ctx: Context, filters: dict[str, str],
             detail: bool = False) -> list[Instance]:
        query = list_query.parse(filters, ctx.is_admin, detail)
        column = getattr(Instance, query.sort_key)
        stmt = select(Instance).order_by(column.desc() if query.descending else column.asc(),
                                         Instance.id)
        if not query.all_tenants:  # a member's project_id / tenant_id filter is ignored
            stmt = stmt.where(Instance.project_id == ctx.project_id)
        elif filters.get("project_id") or filters.get("tenant_id"):
            stmt = stmt.where(Instance.project_id == (filters.get("project_id")
                                                      or filters.get("tenant_id")))
        if query.changes_since is not None:
            stmt = stmt.where(Instance.updated_at >= query.changes_since)
        if query.deleted is not None:
            stmt = stmt.where(Instance.deleted.is_(query.deleted))
        elif query.changes_since is None:
            stmt = stmt.where(Instance.deleted.is_(False))
        if "status" in filters:
            states = transitions.STATUS_FILTER.get(filters["status"].upper(), [])
            stmt = stmt.where(Instance.vm_state.in_(states))
        for key, column in (("flavor", Instance.flavor_id), ("image", Instance.image_id)):
            if key in filters:
                stmt = stmt.where(column == filters[key])
        named = name_filter.exact(filters["name"]) if "name" in filters else None
        if named is not None:
            stmt = stmt.where(Instance.name == named)
        with self.db.read() as s:
            rows = list(s.scalars(stmt))
            s.expunge_all()
        if "name" in filters and named is None:
            rows = name_filter.select(filters["name"], rows, lambda r: r.name)
        status = filters.get("status", "").upper()
        if status in ("ACTIVE", "REBOOT", "HARD_REBOOT"):
            rows = [r for r in rows if transitions.status(r.vm_state, r.task_state) == status]
        return list_query.page(rows, query)

    def show(self, ctx: Context, server_id: str) -> Instance:
        with self.db.read() as s:
            row = self._get(s, ctx, server_id)
            s.expunge_all()
            return row

    def update(self, ctx: Context, server_id: str, data: dict) -> Instance:
        with self.db.write() as s:
            row = self._get(s, ctx, server_id, lock=True)
            if "name" in data:
                row.name = data["name"]
            if "description" in data:
                row.description = data["description"]
            row.updated_at = jobs.now()
            return row

    def delete(self, ctx: Context, server_id: str) -> None:
        with self.db.write() as s:
            row = self._get(s, ctx, server_id, lock=True)
            if row.task_state == "deleting":
                return
            owned = list(row.ports or [])
            attachments = s.execute(select(Job.op, Job.payload).where(
                Job.instance_id == row.id, Job.op.in_(("attach", "detach")))
                .order_by(Job.id)).all()
            pending = ports.unjoined([(op, (payload or {}).get("port"))
                                      for op, payload in attachments],
                                     {p["port_id"] for p in owned})
            server, project = row.id, row.project_id
            row.idempotency_key = None  # a retried create makes a new server, not this one
            if row.host:
                row.task_state = "deleting"
                row.updated_at = jobs.now()
                jobs.queue(s, row, "delete", _actor(ctx))
            else:  # never reached an agent: nothing to confirm the delete
                jobs.queue(s, row, "delete", _actor(ctx), jobs.DONE)
                body = events.build("delete.end", {"id": row.id}, row.seq + 1, "")
                apply_event(s, events.parse(body))
        owned += ports.still_here(self.network, pending, server)
        ports.release(self.network, ctx, owned, server_id=server, project_id=project)
        self._woken()

    def action(self, ctx: Context, server_id: str, name: str, arg) -> dict | None:
        if name == "os-getConsoleOutput":
            row = self.show(ctx, server_id)
            lines = row.console.splitlines()
            if arg is not None:  # lines from the end (bodies.console_length)
                lines = lines[-arg:] if arg > 0 else []
            return {"output": "\n".join(lines)}
        op = {"os-start": "start", "os-stop": "stop", "reboot": "reboot"}[name]
        with self.db.write() as s:
            row = self._get(s, ctx, server_id, lock=True)
            rule = "reboot_hard" if op == "reboot" and arg == "HARD" else op
            conflict = transitions.check_action(rule, row.id, row.vm_state, row.task_state)
            if conflict:
                raise errors.Conflict(conflict)
            row.task_state = transitions.ACTIONS[rule][1]
            row.updated_at = jobs.now()
            jobs.queue(s, row, op, _actor(ctx), reboot_type=arg if op == "reboot" else None)
        self._woken()
        return None

    def actions(self, ctx: Context, server_id: str, deleted: bool) -> list[Job]:
        """The jobs (instance actions) of a server the caller may see, newest first;
        a deleted server's too when ``deleted`` (Nova, from 2.21)."""
        with self.db.read() as s:
            self._get(s, ctx, server_id, deleted=deleted)
            rows = list(s.scalars(select(Job).where(Job.instance_id == server_id,
                                                    Job.op.in_(list(actions.NAMES)))
                                  .order_by(Job.created_at.desc(), Job.id.desc())))
            s.expunge_all()
            return rows

    def set_metadata(self, ctx: Context, server_id: str, items: dict[str, str],
                     replace: bool = False, delete_key: str | None = None) -> dict[str, str]:
        with self.db.write() as s:
            row = self._get(s, ctx, server_id, lock=True)
            meta = {} if replace else dict(row.metadata_ or {})
            if delete_key is not None:
                if delete_key not in meta:
                    raise errors.NotFound("Metadata item was not found")
                del meta[delete_key]
            meta.update(items)
            row.metadata_ = meta
            row.updated_at = jobs.now()
            return meta

    def attach(self, ctx: Context, server_id: str, want: NetworkRequest) -> dict:
        row = self.show(ctx, server_id)
        conflict = transitions.check_action("attach_interface", row.id, row.vm_state,
                                            row.task_state)
        if conflict:
            raise errors.Conflict(conflict)
        port = ports.allocate_one(self.network, ctx, row.project_id, row.id, row.host,
                                  row.availability_zone, want, attach=True,
                                  management=self._management(row.image_id))
        if want.tag is not None:
            port = {**port, "tag": want.tag}
        server, project = row.id, row.project_id
        try:
            with self.db.write() as s:
                row = self._get(s, ctx, server_id, lock=True)
                # again under the lock: a delete that landed meanwhile read the jobs
                # before this one, so the port would be left to a deleted server
                conflict = transitions.check_action("attach_interface", row.id,
                                                    row.vm_state, row.task_state)
                if conflict:
                    raise errors.Conflict(conflict)
                jobs.queue(s, row, "attach", _actor(ctx), port=port)
        except BaseException:
            ports.release(self.network, ctx, [port], server_id=server, project_id=project)
            raise
        self._woken()
        return port

    def detach(self, ctx: Context, server_id: str, port_id: str) -> None:
        with self.db.write() as s:
            row = self._get(s, ctx, server_id, lock=True)
            port = next((p for p in row.ports if p["port_id"] == port_id), None)
            if port is None:
                raise errors.NotFound(f"Port {port_id} is not attached")
            jobs.queue(s, row, "detach", _actor(ctx), port=port)
            server, project = row.id, row.project_id
        ports.release(self.network, ctx, [port], server_id=server, project_id=project)
        self._woken()

    def external_events(self, ctx: Context,
                        events: list[external_events.Event]) -> external_events.Outcome:
        """Nova's external events: each one's code and, for a port whose link came up on
        a server's host, a ``vif_plugged`` job for that host's agent (no instance
        action: Nova records none for network events)."""
        ids = sorted({e.server_uuid for e in events})
        queued = False
        with self.db.write() as s:
            rows: dict[str, Instance] = {}
            for start in range(0, len(ids), LOOKUP_CHUNK):
                rows.update((r.id, r) for r in s.scalars(select(Instance).where(
                    Instance.id.in_(ids[start:start + LOOKUP_CHUNK]),
                    Instance.deleted.is_(False))))
            outcome = external_events.decide(events, {i: r.host for i, r in rows.items()})
            for server_id, wanted in external_events.links_up(outcome.accepted).items():
                row = rows[server_id]
                known = [p["port_id"] for p in row.ports or []]
                port_ids = known if wanted is None else [p for p in wanted if p in known]
                if port_ids:  # a tag naming no port of this server changes nothing
                    jobs.queue(s, row, jobs.VIF_PLUGGED, _actor(ctx), port_ids=port_ids)
                    queued = True
        if queued:
            self._woken()
        return outcome

    # hosts (os-services) ------------------------------------------------------------
    def hosts(self, ctx: Context) -> list[dict]:
        services.require_admin(ctx)
        with self.db.read() as s:
            return placement.host_list(s, self.settings.agent_down_time)

    def set_drained(self, ctx: Context, name: str, drained: bool) -> dict:
        services.require_admin(ctx)
        host = None
        if services.valid_id(name):  # no query with an id no host can have
            with self.db.write() as s:
                host = placement.set_drained(s, name, drained,
                                             self.settings.agent_down_time)
        if host is None:
            raise errors.NotFound(f"Service {errors.shown(name)} could not be found.")
        return host

    # dead letters (os-astara-dead-letters) -------------------------------------------
    def dead_letters(self, ctx: Context, limit: int, marker: int | None) -> list[dict]:
        dead_letters.require_admin(ctx)
        return dead_letter_store.listing(self.db, limit, marker)

    def dead_letter(self, ctx: Context, dead_id: int) -> dict:
        dead_letters.require_admin(ctx)
        found = dead_letter_store.one(self.db, dead_id)
        if found is None:
            raise dead_letters.not_found(dead_id)
        return found

    def retry_dead_letter(self, ctx: Context, dead_id: int) -> dict:
        """``{"id", "result", "dead_letter"}``: the letter as the retry left it (None once
        applied and removed)."""
        dead_letters.require_admin(ctx)
        outcome = dead_letter_store.retry(self.db, [dead_id])
        result = next((k for k, ids in outcome.items() if dead_id in ids), None)
        if result is None:
            raise dead_letters.not_found(dead_id)
        return {"id": dead_id, "result": result,
                "dead_letter": dead_letter_store.one(self.db, dead_id)}
