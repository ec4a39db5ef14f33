"""Bring the appliance's haproxy to the rendered configuration, or stop it.

Called by `converge` with `render.haproxy` text (None: the document has no
`loadbalancer` section). The text is written under a temp name and checked with
`haproxy -c` first: refused, the file in place (and the haproxy serving it) stay as
they are and the apply fails with haproxy's reason. Then one haproxy master per
appliance: none running → start it; running and the file changed → the master's
reload (new workers take the listening sockets over, old ones finish their
connections); unchanged → nothing. The `Haproxy` port (`apply.haproxy_process`; its
twin `apply.fakes.FakeHaproxy`) finds a running master by pid file and command line,
so an agent that restarts adopts it and never starts a second one.

TERMINATED_HTTPS certificates (`certs`: file name -> PEM) are written before the
check (it reads them), each 0600 in the appliance's own 0700 `certs` directory (root
only: haproxy's master reads them, its workers never need to), and those no
listener names any more are removed once haproxy serves the new text; a refused
text takes the files it brought with it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from astara.appliance.apply.files import write_checked
from astara.appliance.render.haproxy import paths


class Haproxy(Protocol):
    user: tuple[str, str] | None  # (user, group) its workers run as; None: haproxy's own

    def check(self, conf: Path) -> None: ...

    def running(self, conf: Path, pid_file: Path) -> int | None: ...

    def start(self, conf: Path, pid_file: Path) -> int: ...

    def reload(self, pid: int) -> None: ...

    def stop(self, pid: int) -> None: ...

    def stats(self, sock: Path) -> str | None:
        """`show info` then `show stat` (CSV) from the stats socket; None when it does
        not answer."""


def sync(state_dir: Path, text: str | None, proc: Haproxy,
         certs: dict[str, str] | None = None) -> str:
    """What it did: "start", "reload", "stop" or "none"."""
    p = paths(state_dir)
    if text is None:
        return "stop" if stop(state_dir, proc) else "none"
    added = write_certificates(p["certs"], certs or {})
    try:
        changed = write_checked(p["conf"], text, proc.check)
    except BaseException:
        for name in added:
            (p["certs"] / name).unlink(missing_ok=True)
        raise
    pid = proc.running(p["conf"], p["pid"])
    if pid is None:
        p["sock"].parent.mkdir(mode=0o700, exist_ok=True)  # the admin socket's: root only
        proc.start(p["conf"], p["pid"])
        done = "start"
    elif changed:
        proc.reload(pid)
        done = "reload"
    else:
        done = "none"
    prune_certificates(p["certs"], set(certs or {}))
    return done


def write_certificates(directory: Path, certs: dict[str, str]) -> list[str]:
    """Write the missing ones (a name is its content's hash: an existing file is
    right); the names written."""
    if not certs:
        return []
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    return [name for name, pem in certs.items() if write_checked(directory / name, pem)]


def prune_certificates(directory: Path, keep: set[str]) -> None:
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)


def running(state_dir: Path, proc: Haproxy) -> int | None:
    p = paths(state_dir)
    return proc.running(p["conf"], p["pid"])


def stop(state_dir: Path, proc: Haproxy) -> bool:
    """Stop this appliance's haproxy and remove its files; whether one was running."""
    p = paths(state_dir)
    pid = proc.running(p["conf"], p["pid"])
    if pid:
        proc.stop(pid)
    for key, path in p.items():
        if key == "certs":
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return pid is not None
