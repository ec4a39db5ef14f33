"""The ``?name=`` filter of the server list: Nova's regular expression, with bounds.

Nova matches ``name`` as a regular expression (``re.search`` on SQLite, ``REGEXP`` on
MySQL), and clients rely on it: the orchestrator lists ``^<hostname>$``. Python's
``re`` cannot be interrupted, so a pattern such as ``(a+)+$`` against a 25-character
name held the API for seconds. The ``regex`` package (``re``-compatible syntax,
``V0``) takes a ``timeout`` and releases the GIL while matching; a pattern longer
than ``MAX_PATTERN`` or a match over ``BUDGET`` seconds in all is a 400. Compiling is
not interruptible either and expands counted repeats (``a{10000000}`` took seconds and
gigabytes, nested ``{255}`` three deep 4 GB), so a pattern may hold at most one counted
repeat, of at most ``MAX_REPEAT``. ``exact`` spots the common pattern that names one
server (``^`` + an escaped literal + ``$``), which the list then asks the database
for: no row is matched in Python, so a busy host cannot run such a lookup out of its
budget (1,000 routers' lookups over 2,000 instances got 400s).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import regex

from astara.compute_service.api import errors

MAX_PATTERN = 255   # as long as the longest name
MAX_REPEAT = 255    # no name is longer: a larger count matches nothing more
# Escaped braces count too: telling ``\{`` from ``\\{`` is the parser's job, not ours.
_COUNTED = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")
BUDGET = 0.25       # seconds of matching per request, over all rows
# After a backslash only punctuation is itself (``\d``, ``\b``, ``\1`` are not literals).
_LITERAL = re.compile(r"\^((?:\\[^0-9A-Za-z]|[^.^$*+?{}\[\]|()\\])*)\$")

T = TypeVar("T")


def exact(pattern: str) -> str | None:
    """The one name ``pattern`` can match when it is ``^literal$`` (``re.escape`` of a
    name), else None. Names are printable, so ``$`` before a newline never matters."""
    m = _LITERAL.fullmatch(pattern)
    if m is None:
        return None
    return re.sub(r"\\(.)", r"\1", m.group(1))


def select(pattern: str, rows: Iterable[T], name_of: Callable[[T], str],
           budget: float = BUDGET,
           clock: Callable[[], float] = time.monotonic) -> list[T]:
    """The rows whose name the pattern matches (search, as Nova does)."""
    if len(pattern) > MAX_PATTERN:
        raise errors.BadRequest(f"Invalid name filter {errors.shown(pattern)}: longer than "
                                f"{MAX_PATTERN} characters")
    counted = _COUNTED.findall(pattern)
    if len(counted) > 1 or any(n and (len(n) > 3 or int(n) > MAX_REPEAT)
                               for pair in counted for n in pair):
        raise errors.BadRequest(f"Invalid name filter {errors.shown(pattern)}: at most one "
                                f"counted repeat, of at most {MAX_REPEAT}")
    try:
        compiled = regex.compile(pattern, regex.V0)
    except (regex.error, OverflowError, RecursionError, ValueError, MemoryError):
        raise errors.BadRequest(f"Invalid name filter {errors.shown(pattern)}") from None
    deadline = clock() + budget
    out = []
    for row in rows:
        left = deadline - clock()
        try:
            if left <= 0:
                raise TimeoutError
            if compiled.search(name_of(row), timeout=left, concurrent=True):
                out.append(row)
        except TimeoutError:
            raise errors.BadRequest(f"Invalid name filter {errors.shown(pattern)}: it takes "
                                    "too long to match; simplify it") from None
    return out
