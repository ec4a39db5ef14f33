"""Progress of a long command-line operation: a small interface, a silent twin, rich bars.

A long operation (a burn-in's steps, ``astara-ctl poll --wait``, ``astara-compute-manage
reconcile-servers``) reports to a ``Progress``: ``phase`` starts a bar of ``total``
items (None: unknown), ``now`` names the item under way, ``advance`` counts items done.
``shown(stream, machine_output)`` gives rich bars only when ``wanted``: the stream is a
terminal and the command is not printing for a program (JSON mode); else ``SILENT``.
``Recorded`` is the in-tree fake tests assert against. rich is imported only for bars.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def phase(self, what: str, total: int | None = None) -> None: ...

    def now(self, item: str) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class Silent:
    def phase(self, what: str, total: int | None = None) -> None:
        pass

    def now(self, item: str) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


SILENT = Silent()


class Recorded:
    """Every report, in order: ("phase", what, total), ("now", item), ("advance", n)."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def phase(self, what: str, total: int | None = None) -> None:
        self.events.append(("phase", what, total))

    def now(self, item: str) -> None:
        self.events.append(("now", item))

    def advance(self, n: int = 1) -> None:
        self.events.append(("advance", n))


def wanted(is_terminal: bool, machine_output: bool) -> bool:
    """Bars are for a person watching a terminal, never in what a program reads."""
    return is_terminal and not machine_output


class Bars:
    """rich bars on ``stream``: one per phase, the finished ones kept on screen."""

    def __init__(self, live: Any):
        self._live = live
        self._task: Any = None
        self._what = ""

    def phase(self, what: str, total: int | None = None) -> None:
        if self._task is not None:  # the last phase is over: its bar full, its name alone
            done = next(t for t in self._live.tasks if t.id == self._task)
            self._live.update(self._task, description=self._what,
                              total=done.total if done.total is not None else done.completed)
        self._what = what
        self._task = self._live.add_task(what, total=total)

    def now(self, item: str) -> None:
        if self._task is not None:
            self._live.update(self._task, description=f"{self._what}: {item}")

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._live.advance(self._task, n)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a file
        return False


@contextlib.contextmanager
def shown(stream: TextIO, machine_output: bool = False) -> Iterator[Progress]:
    """Bars on ``stream`` while the block runs, when ``wanted``; else ``SILENT``."""
    if not wanted(_is_terminal(stream), machine_output):
        yield SILENT
        return
    from rich import progress as bars
    from rich.console import Console

    live = bars.Progress(bars.SpinnerColumn(), bars.TextColumn("{task.description}"),
                         bars.BarColumn(), bars.MofNCompleteColumn(),
                         bars.TimeElapsedColumn(), console=Console(file=stream))
    with live:
        yield Bars(live)
