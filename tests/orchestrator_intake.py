"""Notifications handed to an orchestrator's intake as its bus consumer hands them, and
the keys intake queued: what the floating IP wake tests build on."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

from astara.orchestrator.service import Orchestrator

CAPTURES = Path(__file__).parent / "data" / "neutron" / "notifications"


def capture(name: str) -> dict:
    """A captured Neutron notification's message (a copy: callers may change it)."""
    return copy.deepcopy(json.loads((CAPTURES / name).read_text())["message"])


def intake_messages(orch: Orchestrator, bodies: list[dict]) -> list[str]:
    """Each of ``bodies`` in a batch of its own, then intake stops: the router ids it
    queued, in order (``submit`` only records them)."""
    submitted: list[str] = []
    orch.submit = lambda ref, full=True, booted=False: submitted.append(ref.id)  # type: ignore[method-assign]

    class Consumer:
        def run(self, handle, stop, batch_done):
            for body in bodies:
                handle(SimpleNamespace(body=body, event_type=body["event_type"]))
                batch_done()
            orch._stop.set()

        def close(self):
            pass

    orch._stop.clear()
    orch._intake(Consumer())
    return submitted
