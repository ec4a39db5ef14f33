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
    return [rid for rid, _ in intake_batches(orch, [[body] for body in bodies])]


def intake_batches(orch: Orchestrator, batches: list[list[dict]]
                   ) -> list[tuple[str, str | None]]:
    """Each of ``batches`` handed as one batch (a body as a message dict, or as the
    oslo envelope AMQP brings), then intake stops: (router id, ``booted``) of each key
    it queued, in order (``submit`` only records them)."""
    submitted: list[tuple[str, str | None]] = []
    orch.submit = lambda ref, full=True, booted=None: submitted.append(  # type: ignore[method-assign]
        (ref.id, booted))

    class Consumer:
        def run(self, handle, stop, batch_done):
            for batch in batches:
                for body in batch:
                    msg = json.loads(body["oslo.message"]) if "oslo.message" in body else body
                    handle(SimpleNamespace(body=body, event_type=msg["event_type"]))
                batch_done()
            orch._stop.set()

        def close(self):
            pass

    orch._stop.clear()
    orch._intake(Consumer())
    return submitted
