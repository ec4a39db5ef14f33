"""Write a file atomically after validating it: temp name → check → rename.

Used by `apply.nft` and `apply.dnsmasq`. A file that fails its check never
replaces the good one; the temp file is removed and the error raised. Files are
0600; `owner` (uid, gid) hands one to the unprivileged user that must re-read it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_checked(path: Path, text: str, check: Callable[[Path], None] | None = None,
                  owner: tuple[int, int] | None = None) -> bool:
    """Returns False (and writes nothing) when `path` already holds `text`."""
    try:
        if path.read_text() == text:
            _own(path, owner)  # a file an older release left readable to all
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            if owner is not None:
                os.fchown(f.fileno(), *owner)
            f.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _own(path: Path, owner: tuple[int, int] | None) -> None:
    st = path.stat()
    if st.st_mode & 0o077:
        os.chmod(path, 0o600)
    if owner is not None and (st.st_uid, st.st_gid) != owner:
        os.chown(path, *owner)
