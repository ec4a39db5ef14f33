"""The instance-action view of a job, per microversion and role (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from astara.compute_service.api import actions

T0, T1 = datetime(2026, 11, 22, 16, 4, 1), datetime(2026, 11, 22, 16, 4, 2, 5)


@dataclass
class Job:
    op: str = "stop"
    status: str = "done"
    log: str = "ok"
    host: str = "h1"
    instance_id: str = "i-1"
    created_at: datetime = T0
    updated_at: datetime = T1
    payload: dict = field(default_factory=lambda: {
        "spec": {"project_id": "p"},
        "actor": actions.actor("req-1", "u", "p")})


def test_action_fields_follow_nova():
    assert actions.action(Job(), (2, 1)) == {
        "action": "stop", "instance_uuid": "i-1", "request_id": "req-1", "user_id": "u",
        "project_id": "p", "start_time": "2026-11-22T16:04:01.000000", "message": None}
    assert actions.action(Job(), (2, 58))["updated_at"] == "2026-11-22T16:04:02.000005"
    assert actions.action(Job(op="attach", status="failed"), (2, 1))["message"] == "Error"


@pytest.mark.parametrize("version,admin,keys", [
    ((2, 1), False, None),
    ((2, 1), True, {"event", "start_time", "finish_time", "result", "traceback"}),
    ((2, 51), False, {"event", "start_time", "finish_time", "result"}),
    ((2, 62), False, {"event", "start_time", "finish_time", "result", "hostId"}),
    ((2, 84), True, {"event", "start_time", "finish_time", "result", "traceback", "hostId",
                     "host", "details"}),
])
def test_events_by_microversion_and_role(version, admin, keys):
    shown = actions.detail(Job(), version, admin)
    if keys is None:
        assert "events" not in shown
    else:
        [event] = shown["events"]
        assert set(event) == keys
        assert (event["event"], event["result"]) == ("compute_stop_instance", "Success")


def test_a_running_job_has_no_result_and_a_failed_one_says_why():
    [running] = actions.detail(Job(status="running"), (2, 84), True)["events"]
    assert (running["result"], running["finish_time"], running["details"]) == \
        (None, None, None)
    failed = Job(status="failed", log="Traceback ...\nBackendError: veth busy\n")
    [event] = actions.detail(failed, (2, 84), True)["events"]
    assert event["result"] == "Error" and event["details"] == "BackendError: veth busy"
    assert event["traceback"] == failed.log
