"""The durable work list between the API and the agents (table ``compute_jobs``).

The API queues a job in the transaction that records the intent, then wakes the
agents (``JOB_WAKEUPS`` directory under the bus wake-up directory). A job carries a
self-contained ``spec`` of the instance, so the agent never needs the API. Event
sequence numbers derive from the job id (``seq``): a job re-run after a crash emits
the same numbers, which the dispatcher then drops as not newer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from astara.compute_service import catalog
from astara.compute_service.models import Instance, Job

JOB_WAKEUPS = "compute-jobs"
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
# "a port of this instance is wired and its DHCP can answer" (Nova's network-vif-plugged,
# payload ``port_ids``): the agent restarts an unbound DHCP client; not an instance
# action, publishes no event, never changes instance state
VIF_PLUGGED = "vif_plugged"
STEPS = 10


def wakeup_dir(bus_wakeup_dir: Path) -> Path:
    return Path(bus_wakeup_dir) / JOB_WAKEUPS


def seq(job_id: int, step: int) -> int:
    """Sequence number of the ``step``-th event (1..9) of job ``job_id``."""
    assert 0 < step < STEPS
    return job_id * STEPS + step


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def spec(row: Instance) -> dict:
    image = catalog.IMAGES.get(row.image_id)
    return {"id": row.id, "name": row.name, "hostname": row.hostname,
            "project_id": row.project_id, "user_id": row.user_id,
            "flavor_id": row.flavor_id, "image_id": row.image_id,
            "profile": image.profile if image else "tenant",
            "availability_zone": row.availability_zone,
            "reservation_id": row.reservation_id, "ports": list(row.ports or [])}


def queue(session: Session, row: Instance, op: str, actor: dict | None = None,
          status: str = PENDING, log: str = "", **extra) -> Job:
    """A job for ``row``'s agent; ``actor`` (who asked, with the request id) makes it
    the server's instance action. A job born ``FAILED`` (no host) is a record only."""
    stamp = now()
    job = Job(instance_id=row.id, host=row.host, op=op, status=status,
              payload={"spec": spec(row), "actor": actor or {}, **extra}, log=log,
              attempts=0, created_at=stamp, updated_at=stamp)
    session.add(job)
    session.flush()
    return job
