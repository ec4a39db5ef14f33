"""Reading the real Octavia 19 captures kept in tests/data/octavia (see its README)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "octavia"


@cache
def calls(step: str) -> list[dict]:
    return json.loads((DATA / f"{step}.json").read_text())["calls"]


def call(step: str, index: int) -> dict:
    return calls(step)[index]


def body(step: str, index: int) -> dict:
    return call(step, index)["response_body"]


def keys(step: str, index: int, name: str) -> set[str]:
    """The field names Octavia answered for ``name`` in that call."""
    return set(body(step, index)[name])


def fault(step: str, index: int) -> tuple[int, str]:
    c = call(step, index)
    return c["status"], c["response_body"]["faultstring"]
