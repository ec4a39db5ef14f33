"""A server's instance actions (``os-instance-actions``), read from its jobs (pure).

Every action the API accepts on a server queues one ``compute_jobs`` row (a create
that found no host records a failed one), carrying who asked and the request id the
API answered with (``payload["actor"]``). Nova's action record is that row: its
``op`` names the action, ``created_at`` its start, ``updated_at`` its last change,
``status`` its outcome (``message`` "Error" for a failure); its one event is the
agent's run of the job. Fields follow the microversion as Nova 34 gives them: events
for members from 2.51, ``hostId``/``host`` on events from 2.62, ``updated_at`` from
2.58, ``details`` from 2.84; tracebacks (the job's log) for admins only.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

Version = tuple[int, int]

# job op -> (Nova's action name, the compute manager event that runs it)
NAMES = {"create": ("create", "compute__do_build_and_run_instance"),
         "delete": ("delete", "compute_terminate_instance"),
         "start": ("start", "compute_start_instance"),
         "stop": ("stop", "compute_stop_instance"),
         "reboot": ("reboot", "compute_reboot_instance"),
         "attach": ("attach_interface", "compute_attach_interface"),
         "detach": ("detach_interface", "compute_detach_interface")}
FINISHED = {"done": "Success", "failed": "Error"}


class JobRecord(Protocol):
    instance_id: str
    host: str
    op: str
    status: str
    payload: dict
    log: str
    created_at: datetime
    updated_at: datetime


def actor(request_id: str, user_id: str, project_id: str) -> dict[str, str]:
    """What a job records of the request that queued it."""
    return {"request_id": request_id, "user_id": user_id, "project_id": project_id}


def _ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def request_id(job: JobRecord) -> str | None:
    return (job.payload or {}).get("actor", {}).get("request_id")


def action(job: JobRecord, version: Version) -> dict:
    who = (job.payload or {}).get("actor", {})
    body = {"action": NAMES.get(job.op, (job.op, ""))[0], "instance_uuid": job.instance_id,
            "request_id": who.get("request_id"), "user_id": who.get("user_id"),
            "project_id": who.get("project_id"), "start_time": _ts(job.created_at),
            "message": "Error" if job.status == "failed" else None}
    if version >= (2, 58):
        body["updated_at"] = _ts(job.updated_at)
    return body


def event(job: JobRecord, version: Version, admin: bool) -> dict:
    result = FINISHED.get(job.status)
    body = {"event": NAMES.get(job.op, ("", job.op))[1], "start_time": _ts(job.created_at),
            "finish_time": _ts(job.updated_at) if result else None, "result": result}
    if admin:
        body["traceback"] = job.log if job.status == "failed" else None
    if version >= (2, 62):
        project = (job.payload or {}).get("spec", {}).get("project_id", "")
        body["hostId"] = hashlib.sha224((project + job.host).encode()).hexdigest() \
            if job.host else ""
        if admin:
            body["host"] = job.host
    if version >= (2, 84):
        body["details"] = job.log.strip().splitlines()[-1][:255] \
            if job.status == "failed" and job.log.strip() else None
    return body


def detail(job: JobRecord, version: Version, admin: bool) -> dict:
    """One action with its events, as ``.../os-instance-actions/{request_id}``."""
    body = action(job, version)
    if admin or version >= (2, 51):
        body["events"] = [event(job, version, admin)]
    return body
