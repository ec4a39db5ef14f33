"""The per-host agent: runs this host's jobs with a backend and reports events.

It registers itself in ``compute_hosts``, re-queues the jobs it was running when it
last died (every job is idempotent, so a re-run never tears down a healthy
instance: a restart adopts what runs), then claims pending jobs (one at a time per
instance, in order), runs them on a thread pool and finishes each in one
transaction that marks the job and publishes its ``compute.instance.*`` event
through the outbox. It sleeps on the job wake-up directory, never on a fixed poll.
Between jobs it beats (``compute_hosts.updated_at``: the API places no instance on a
host whose agent stopped beating; its tunnel address tells the other hosts where its
networks' VXLAN devices are) and, with a tunnel address, makes this host's flood
entries match the hosts with ports on each network (``overlay``); every
``reconcile_interval`` seconds, it starts a light reconcile of this host in a thread
of its own (one at a time; the loop goes on beating and claiming meanwhile)
that repairs the ``reconcile_fix`` kinds and logs the rest.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select, update

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.compute_service import events, jobs
from astara.compute_service.agent import holders, reconcile
from astara.compute_service.agent.backend import Backend, BackendError, InstanceSpec
from astara.compute_service.models import Host, Job
from astara.db.engine import Database

LOG = logging.getLogger(__name__)
ACTION = {"create": "create", "delete": "delete", "start": "power_on", "stop": "power_off",
          "reboot": "reboot", "attach": "interface_attach", "detach": "interface_detach"}
HAS_START = {"create", "delete", "start", "stop", "reboot"}
LIGHT_FIX = frozenset({"stale", "unsynced", "pending", "ports", "processes"})


class Agent:
    def __init__(self, db: Database, backend: Backend, host: str, publisher: OutboxPublisher,
                 job_wakeup: WakeupDir, capacity: int = 200, availability_zone: str = "nova",
                 workers: int = 8, idle_wait: float = 5.0, heartbeat_interval: float = 10.0,
                 reconcile_interval: float = 0.0, reconcile_fix: frozenset[str] = LIGHT_FIX,
                 tunnel_address: str | None = None, holder_address: str | None = None):
        self.db = db
        self.backend = backend
        self.host = host
        self.publisher = publisher
        self.job_wakeup = job_wakeup
        self.capacity = capacity
        self.availability_zone = availability_zone
        self.workers = workers
        self.idle_wait = idle_wait
        self.heartbeat_interval = heartbeat_interval
        self.reconcile_interval = reconcile_interval  # 0: no periodic reconcile
        self.reconcile_fix = reconcile_fix
        self.tunnel_address = tunnel_address  # None: this host's networks stay on it
        # the management address this holder claimed at start (None: holds none):
        # claimed again at each beat, and given up if another host has it meanwhile
        self.holder_address = holder_address
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        # (op, status) -> jobs this process finished: its metrics (``counts``)
        self.finished: collections.Counter[tuple[str, str]] = collections.Counter()

    def register(self) -> None:
        with self.db.write() as s:
            row = s.get(Host, self.host)
            if row is None:
                s.add(self._new_row())
            else:
                row.capacity, row.updated_at = self.capacity, jobs.now()
                row.tunnel_address = self.tunnel_address

    def heartbeat(self) -> None:
        with self.db.write() as s:
            row = s.get(Host, self.host)
            if row is None:  # removed by an operator while we run: register again
                s.add(self._new_row())
            else:
                row.updated_at, row.tunnel_address = jobs.now(), self.tunnel_address
        self.keep_claim()
        self.sync_tunnels()

    def keep_claim(self) -> bool:
        """A holder's claim made again if our records lost it (its row deleted and
        made again, its column cleared); if another host claimed the address
        meanwhile, this host stops holding it (one ERROR line): two bridges with one
        address and MAC would split the orchestrator's traffic. Whether it holds."""
        if self.holder_address is None:
            return False
        line = holders.keep_claim(self.db, self.host, self.holder_address)
        if line is None:
            return True
        LOG.error("%s", line)
        self.holder_address = None
        if hasattr(self.backend, "stop_holding"):
            for applied in self.backend.stop_holding():
                LOG.info("management: %s", applied)
        return False

    def _new_row(self) -> Host:
        return Host(name=self.host, capacity=self.capacity, drained=False,
                    availability_zone=self.availability_zone, updated_at=jobs.now(),
                    tunnel_address=self.tunnel_address)

    def sync_tunnels(self) -> list[str]:
        """This host's flood entries made to match our records (a host that joined,
        left or stopped beating); never raises (the agent must keep going)."""
        if self.tunnel_address is None or not hasattr(self.backend, "sync_tunnels"):
            return []
        try:
            lines = self.backend.sync_tunnels()
        except BackendError as exc:  # the database or the host: one line, no traceback
            LOG.warning("%s", exc)
            return []
        except Exception:
            LOG.exception("VXLAN flood entries of %s not synced", self.host)
            return []
        for line in lines:
            LOG.info("vxlan: %s", line)
        return lines

    def reconcile_pass(self) -> dict:
        """One light reconcile of this host; never raises (the agent must keep going)."""
        started = time.monotonic()
        try:
            report = reconcile.run(self.db, self.backend, self.host, set(self.reconcile_fix))
        except Exception:
            LOG.exception("periodic reconcile of %s failed", self.host)
            return {}
        fixed = set(report["fixed"])
        # What a pass costs grows with the host's instances (and shares this process
        # with the jobs): said at each pass.
        LOG.info("reconcile pass of %s: %d instances stored, %d on the host, %d repaired, "
                 "in %.2f s", self.host, report["looked_at"]["stored"],
                 report["looked_at"]["on_host"], len(fixed), time.monotonic() - started)
        later = set(report["later"])  # changed meanwhile: said at INFO, looked at again
        for kind in reconcile.KINDS:
            for item in report[kind]:
                if item["id"] in later and kind in self.reconcile_fix:
                    continue
                if item["id"] in fixed and kind in self.reconcile_fix:
                    LOG.warning("reconcile: %s %s (%s): repaired", kind, item["id"],
                                item["detail"])
                else:
                    LOG.warning("reconcile: %s %s (%s): left for the operator "
                                "(astara-compute-manage reconcile-servers --fix-%s)",
                                kind, item["id"], item["detail"], kind)
        return report

    def recover(self) -> int:
        """Re-queue jobs interrupted by a crash; return how many."""
        with self.db.write() as s:
            return s.execute(update(Job).where(Job.host == self.host,
                                               Job.status == jobs.RUNNING)
                             .values(status=jobs.PENDING, updated_at=jobs.now())).rowcount

    def claim(self, limit: int) -> list[Job]:
        """Pending jobs to run now: the oldest per instance not already in flight."""
        if limit <= 0:
            return []
        with self._lock, self.db.write() as s:
            pending = s.scalars(select(Job).where(Job.host == self.host,
                                                  Job.status == jobs.PENDING)
                                .order_by(Job.id).with_for_update()).all()
            picked: list[Job] = []
            seen: set[str] = set()
            for job in pending:
                if job.instance_id in seen or job.instance_id in self._busy:
                    seen.add(job.instance_id)
                    continue
                seen.add(job.instance_id)
                job.status, job.attempts, job.updated_at = jobs.RUNNING, job.attempts + 1, \
                    jobs.now()
                if job.op in HAS_START:
                    extra = {"reboot_type": job.payload.get("reboot_type")} \
                        if job.op == "reboot" else {}
                    self._publish(s, job, 1, f"{ACTION[job.op]}.start", extra)
                picked.append(job)
                self._busy.add(job.instance_id)
                if len(picked) >= limit:
                    break
        if picked:
            self.publisher.committed()
        return picked

    def _publish(self, session, job: Job, step: int, action: str, extra: dict) -> None:
        body = events.build(action, job.payload["spec"], jobs.seq(job.id, step), self.host,
                            extra)
        self.publisher.publish(session, events.TOPIC, body)

    def run_job(self, job: Job) -> None:
        spec = InstanceSpec.from_job(job.payload["spec"])
        extra: dict = {}
        try:
            if job.op == "create":
                extra["console"] = self.backend.create(spec)
            elif job.op == "delete":
                self.backend.delete(spec)
            elif job.op == "start":
                self.backend.start(spec)
            elif job.op == "stop":
                self.backend.stop(spec)
            elif job.op == "reboot":
                self.backend.stop(spec)
                self.backend.start(spec)
            elif job.op in ("attach", "detach"):
                port = job.payload["port"]
                getattr(self.backend, job.op)(spec, port)
                extra["port"] = port
            elif job.op == jobs.VIF_PLUGGED:
                done = self.backend.link_up(spec, tuple(job.payload.get("port_ids") or ()))
                self._finish(job, jobs.DONE, None, {}, done)
                return
            else:
                raise BackendError(f"unknown job op {job.op}")
            self._finish(job, jobs.DONE, f"{ACTION[job.op]}.end", extra, "ok")
        except Exception as exc:
            detail = str(exc) if isinstance(exc, BackendError) else traceback.format_exc()
            LOG.warning("job %s %s of %s failed: %s", job.id, job.op, job.instance_id, exc)
            # a vif_plugged that failed leaves the instance as it was: no error event
            action = None if job.op == jobs.VIF_PLUGGED else \
                f"{ACTION.get(job.op, 'create')}.error"
            self._finish(job, jobs.FAILED, action,
                         {"code": 500, "message": str(exc)[:255], "details": detail}, detail)
        finally:
            with self._lock:
                self._busy.discard(job.instance_id)
            self.job_wakeup.notify()  # the next job of this instance may run now

    def _finish(self, job: Job, status: str, action: str | None, extra: dict,
                log: str) -> None:
        """Mark the job and publish its ``action`` event (None: no event)."""
        with self.db.write() as s:
            row = s.get(Job, job.id)
            row.status, row.log, row.updated_at = status, log, jobs.now()
            if action is not None:
                self._publish(s, job, 2, action, extra)
        if action is not None:
            self.publisher.committed()
        with self._lock:
            self.finished[(job.op, status)] += 1

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.finished)

    def run(self, stop: Callable[[], bool]) -> None:
        self.register()
        self.recover()
        listener = self.job_wakeup.listen()
        now = time.monotonic()
        next_beat = now + self.heartbeat_interval
        next_reconcile = now + self.reconcile_interval if self.reconcile_interval \
            else float("inf")
        reconciling: threading.Thread | None = None
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="compute-job") as pool:
                while not stop():
                    now = time.monotonic()
                    if now >= next_beat:
                        next_beat = now + self.heartbeat_interval
                        try:
                            self.heartbeat()
                        except Exception:
                            LOG.exception("heartbeat of %s failed", self.host)
                    if now >= next_reconcile and (reconciling is None
                                                  or not reconciling.is_alive()):
                        # Beside the loop: a pass over thousands of instances took
                        # over a minute, and the heartbeats it held up made placement
                        # take this host for dead ("No valid host").
                        reconciling = threading.Thread(target=self.reconcile_pass,
                                                       name="compute-reconcile", daemon=True)
                        reconciling.start()
                        next_reconcile = now + self.reconcile_interval
                    with self._lock:
                        free = self.workers - len(self._busy)
                    claimed = self.claim(free)
                    for job in claimed:
                        pool.submit(self.run_job, job)
                    if not claimed:
                        due = min(next_beat, next_reconcile) - time.monotonic()
                        listener.wait(max(0.0, min(self.idle_wait, due)))
        finally:
            listener.close()
            if reconciling is not None:
                reconciling.join(30)  # its repairs write the database: let them end

    def run_pending(self) -> int:
        """Run every pending job now, in this thread (tests and one-shot use)."""
        done = 0
        while claimed := self.claim(1):
            for job in claimed:
                self.run_job(job)
                done += 1
        return done
