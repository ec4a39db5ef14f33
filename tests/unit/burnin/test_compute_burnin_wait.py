"""The compute burn-in waits for a server's status through the shared ``wait``."""

from __future__ import annotations

import pytest

from astara.burnin.steps import StepFailed
from astara.compute_service.burnin.scenario import BurnIn, Limits


class Api:
    """Answers ``server(id)`` from a script of statuses (``None``: deleted)."""

    def __init__(self, *statuses: str | None):
        self.statuses, self.asked = list(statuses), 0

    def server(self, server_id: str) -> dict | None:
        self.asked += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return None if status is None else {"id": server_id, "status": status,
                                            "fault": {"message": "no host"}}


def burnin(api: Api) -> BurnIn:
    return BurnIn(api, "w1", probe_factory=None, limits=Limits(poll=0.001))


def test_the_wait_ends_when_the_status_is_reached():
    api = Api("BUILD", "BUILD", "ACTIVE")
    assert burnin(api)._wait("s1", "ACTIVE", 5).startswith("ACTIVE after ")
    assert api.asked == 3


def test_error_fails_at_once_with_the_fault():
    api = Api("BUILD", "ERROR")
    with pytest.raises(StepFailed, match="s1 is ERROR: .*no host"):
        burnin(api)._wait("s1", "ACTIVE", 5)
    assert api.asked == 2


def test_a_status_not_reached_in_time_is_named():
    with pytest.raises(StepFailed, match="s1 is BUILD, not ACTIVE after 0.05s"):
        burnin(Api("BUILD"))._wait("s1", "ACTIVE", 0.05)


def test_a_deleted_server_is_deleted():
    assert burnin(Api("ACTIVE", None))._wait("s1", "DELETED", 5).startswith("DELETED")
