"""Write a file atomically after validating it: temp name → check → rename.

Used by `apply.nft` and `apply.dnsmasq`. A file that fails its check never
replaces the good one; the temp file is removed and the error raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_checked(path: Path, text: str, check: Callable[[Path], None] | None = None) -> bool:
    """Returns False (and writes nothing) when `path` already holds `text`."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    try:
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True
