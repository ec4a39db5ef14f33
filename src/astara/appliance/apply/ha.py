"""Bring an HA member's keepalived and conntrackd to the rendered files, or stop them.

Called by `converge` with `render.keepalived` and `render.conntrackd` text (None:
the document has no HA, or no conntrack sync). conntrackd first (keepalived's notify
script talks to it), then keepalived. keepalived's file is written under a temp
name and checked with `keepalived -t` (in the namespace, so its interfaces must
exist): refused, the file in place and the keepalived running it stay, and the
apply fails with keepalived's reason. A changed file is a SIGHUP: keepalived
re-reads it and keeps its role (no flap). conntrackd has no check mode and no
reload: a changed file restarts it; a new one that does not start is replaced by
the old one again (started), and the apply fails. The `HaDaemons` port
(`apply.ha_process`; its twin `apply.fakes.FakeHaDaemons`) finds running daemons by
pid file and command line, so an agent that restarts adopts them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from astara.appliance.apply.errors import ApplyError
from astara.appliance.apply.files import write_checked
from astara.appliance.render import conntrackd as render_conntrackd
from astara.appliance.render import keepalived as render_keepalived


class HaDaemons(Protocol):
    def check_keepalived(self, conf: Path) -> None: ...

    def keepalived_running(self, conf: Path, pid_file: Path) -> int | None: ...

    def start_keepalived(self, conf: Path, pid_file: Path, vrrp_pid_file: Path) -> int: ...

    def reload_keepalived(self, pid: int) -> None: ...

    def conntrackd_running(self, conf: Path, pid_file: Path) -> int | None: ...

    def start_conntrackd(self, conf: Path, pid_file: Path, lock: Path) -> int: ...

    def stop(self, pid: int) -> None: ...

    def conntrackd_stats(self, conf: Path) -> str | None:
        """`conntrackd -s` (its caches' counters); None when it does not answer."""


def conntrackd_pid(state_dir: Path) -> Path:
    return state_dir / "conntrackd.pid"


def sync(state_dir: Path, keepalived: tuple[str, str] | None, conntrackd: str | None,
         proc: HaDaemons) -> str:
    """`keepalived`: (its configuration, its notify script). What it did to keepalived:
    "start", "reload", "stop" or "none"."""
    _sync_conntrackd(state_dir, conntrackd, proc)
    p = render_keepalived.paths(state_dir)
    if keepalived is None:
        return "stop" if stop(state_dir, proc) else "none"
    conf, script = keepalived
    write_checked(p["notify"], script)
    os.chmod(p["notify"], 0o700)  # keepalived runs it; root only
    changed = write_checked(p["conf"], conf, proc.check_keepalived)
    pid = proc.keepalived_running(p["conf"], p["pid"])
    if pid is None:
        proc.start_keepalived(p["conf"], p["pid"], p["vrrp_pid"])
        return "start"
    if changed:
        proc.reload_keepalived(pid)
        return "reload"
    return "none"


def _sync_conntrackd(state_dir: Path, text: str | None, proc: HaDaemons) -> None:
    p, pid_file = render_conntrackd.paths(state_dir), conntrackd_pid(state_dir)
    if text is None:
        _stop_conntrackd(state_dir, proc)
        return
    try:
        old: str | None = p["conf"].read_text()
    except FileNotFoundError:
        old = None
    changed = write_checked(p["conf"], text)
    pid = proc.conntrackd_running(p["conf"], pid_file)
    if pid is not None and not changed:
        return
    if pid is not None:
        proc.stop(pid)
    try:
        p["lock"].unlink(missing_ok=True)  # a stopped conntrackd's leftover
        socket_dir(p["sock"])
        proc.start_conntrackd(p["conf"], pid_file, p["lock"])
    except ApplyError:
        if old is not None and old != text:  # the old one serves again
            write_checked(p["conf"], old)
            p["lock"].unlink(missing_ok=True)
            proc.start_conntrackd(p["conf"], pid_file, p["lock"])
        raise


def socket_dir(sock: Path) -> None:
    """The control sockets' directory, root only (the socket itself is removed with
    the member's other conntrackd files; the directory is shared by the members)."""
    sock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(sock.parent, 0o700)


def _stop_conntrackd(state_dir: Path, proc: HaDaemons) -> bool:
    p, pid_file = render_conntrackd.paths(state_dir), conntrackd_pid(state_dir)
    pid = proc.conntrackd_running(p["conf"], pid_file)
    if pid is not None:
        proc.stop(pid)
    for path in (*p.values(), pid_file):
        path.unlink(missing_ok=True)
    return pid is not None


def running(state_dir: Path, proc: HaDaemons) -> tuple[int | None, int | None]:
    """(keepalived's pid, conntrackd's pid), None for one not running."""
    k, c = render_keepalived.paths(state_dir), render_conntrackd.paths(state_dir)
    return (proc.keepalived_running(k["conf"], k["pid"]),
            proc.conntrackd_running(c["conf"], conntrackd_pid(state_dir)))


def stop(state_dir: Path, proc: HaDaemons) -> bool:
    """Stop both and remove their files; whether keepalived was running. keepalived
    removes its virtual addresses and routes as it stops."""
    p = render_keepalived.paths(state_dir)
    pid = proc.keepalived_running(p["conf"], p["pid"])
    if pid is not None:
        proc.stop(pid)
    for path in p.values():
        path.unlink(missing_ok=True)
    _stop_conntrackd(state_dir, proc)
    return pid is not None


def role(state_dir: Path) -> str | None:
    """What the notify script last recorded: master, backup, fault; None: no
    transition yet (keepalived starts as backup but reports it only on a change)."""
    try:
        found = render_keepalived.paths(state_dir)["state"].read_text().strip()
    except OSError:
        return None
    return found if found in render_keepalived.ROLES else None
