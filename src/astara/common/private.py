"""Private state: secret files readable by their owner only, and the modes of state files.

Every service calls ``restrict_umask()`` first, so what it creates (the SQLite
database and its -wal/-shm/.writelock files, logs, rendered configs, pid files)
is 0600 and its directories 0700; ``tighten()`` fixes files and directories an
older release left readable. Secrets (the RPC token, the appliance deployment
key) live in files: ``read_secret`` refuses one that is missing, empty or
readable by anyone but its owner, with a one-line message an operator can act on.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

UMASK = 0o077


class SecretFileError(Exception):
    """A secret file that cannot be used; the message is one line for the operator."""


def restrict_umask() -> None:
    os.umask(UMASK)


def tighten(*paths: Path | str) -> None:
    """chmod existing ``paths`` to 0600 (files) or 0700 (directories); skip absent ones."""
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) & ~mode or (stat.S_IMODE(st.st_mode) & mode) != mode:
            os.chmod(path, mode)


def read_secret(path: Path | str, what: str = "secret") -> bytes:
    """The secret held in ``path`` (surrounding whitespace stripped)."""
    path = Path(path)
    try:
        st = path.stat()
        data = path.read_bytes().strip()
    except FileNotFoundError:
        raise SecretFileError(f"{what} file {path} does not exist") from None
    except OSError as exc:
        raise SecretFileError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise SecretFileError(f"{what} file {path} is readable by other users (mode "
                              f"{stat.S_IMODE(st.st_mode):04o}): chmod 600 it")
    if not data:
        raise SecretFileError(f"{what} file {path} is empty")
    return data


def ensure_secret(path: Path | str, what: str = "secret") -> bytes:
    """``read_secret(path)``, after writing a new random secret there if there is none."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret(path, what)
    except OSError as exc:
        raise SecretFileError(f"cannot create {what} file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return read_secret(path, what)
