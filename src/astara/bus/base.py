"""The publish/consume interface every transport implements.

A message is an oslo-style notification dict (``event_type``, ``payload``,
``publisher_id``, ``timestamp``, ``priority``, ``_context_*``). Publishing
happens inside the caller's unit of work (for the outbox: its DB session), so a
change and its notification commit or vanish together. Consumers see messages
at least once, in publish order, and resume after a crash from a durable cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    position: int
    topic: str
    body: dict[str, Any]

    @property
    def event_type(self) -> str:
        return self.body.get("event_type", "")


class Publisher(Protocol):
    def publish(self, unit: Any, topic: str, body: dict[str, Any]) -> None:
        """Queue ``body`` on ``topic`` as part of ``unit`` (committed with it)."""

    def publish_all(self, unit: Any, topic: str, bodies: Sequence[dict[str, Any]]) -> None:
        """``publish`` each of ``bodies``, in order (a transport may batch them)."""

    def committed(self) -> None:
        """Tell consumers that new messages may be visible (called after commit)."""


class Consumer(Protocol):
    name: str

    def fetch(self, limit: int = 100) -> Sequence[Message]:
        """Messages after the durable cursor, oldest first."""

    def ack(self, position: int) -> None:
        """Move the durable cursor to ``position`` (everything up to it is handled)."""

    def wait(self, timeout: float) -> bool:
        """Block until a publisher signals new messages or ``timeout`` passes."""

    def run(self, handler: Callable[[Message], None], stop: Callable[[], bool]) -> None:
        """Deliver messages to ``handler`` until ``stop()`` is true."""
