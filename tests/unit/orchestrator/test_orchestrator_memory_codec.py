"""The plan memory as stored (JSON) and read back: what a restart resumes from."""

from __future__ import annotations

import json

from astara.orchestrator.models import RouterStateRow
from astara.orchestrator.reconcile.model import Memory
from astara.orchestrator.state_store import _decode, _encode


def test_a_replug_asked_before_a_restart_reads_back_equal():
    memory = Memory(boots=2, replug_ports=("mgmt", "p1", "p2"), replug_asked=1000.5)
    stored = json.loads(json.dumps(_encode(memory, None)))  # tuples come back as lists
    back, _status, resume = _decode(RouterStateRow(router_id="r", memory=stored))
    assert back == memory
    assert resume is None


def test_a_row_written_before_the_replug_fields_reads_with_none_asked():
    back, _status, _ = _decode(RouterStateRow(router_id="r", memory={"failed_boots": 1}))
    assert back == Memory(failed_boots=1)
