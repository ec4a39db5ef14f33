"""Bring the set of dnsmasq servers (one per internal interface) to the rendered files.

Called by `converge` with `render.dnsmasq` output. For each interface: reloadable
files (hosts, opts, addn-hosts) are replaced by rename and dnsmasq gets a SIGHUP;
a changed main file of a running process is checked with `dnsmasq --test` before it
replaces the old one, and that one process is restarted; a new interface (or one
whose process is gone) starts a process with no `--test` first: dnsmasq reads its
configuration before it daemonizes and refuses a bad one itself, so a first push
spawns one process per interface, not two (the file it refused is removed). The
processes to start are started side by side (all begun, then each waited for,
whatever is raised meanwhile). A vanished interface's process is stopped and its files
removed. Returns what it did, for logs and tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from astara.appliance.apply.dnsmasq import Dnsmasq
from astara.appliance.apply.errors import ExitedAtStart
from astara.appliance.apply.files import write_checked
from astara.appliance.phases import Phases
from astara.appliance.render.dnsmasq import DnsmasqFiles, paths
from astara.common import private

LOG = logging.getLogger(__name__)
# What dnsmasq writes itself (under its own umask, 022): made its owner's only.
OWN_FILES = ("pid", "leases", "log")


def current_interfaces(state_dir: Path) -> set[str]:
    return {p.name[len("dnsmasq-"):-len(".conf")] for p in state_dir.glob("dnsmasq-*.conf")}


def sync(state_dir: Path, wanted: list[DnsmasqFiles], proc: Dnsmasq,
         phases: Phases | None = None) -> list[str]:
    """`phases` (optional) gets the time of the checks (``dnsmasq-check``: the files
    written, ``dnsmasq --test``) and of the starts (``dnsmasq-start``)."""
    timed = (phases or Phases()).timed
    done: list[str] = []
    starts: list[tuple[DnsmasqFiles, dict[str, Path], bool]] = []
    for files in wanted:
        p = paths(state_dir, files.ifname)
        with timed("dnsmasq-check"):
            changed = [
                write_checked(p[key], text, owner=proc.owner)
                for key, text in zip(("hosts", "opts", "addn_hosts"), files.reloadable(),
                                     strict=True)
            ]
            pid = proc.running(p["conf"], p["pid"])
            conf_changed = write_checked(p["conf"], files.conf,
                                         proc.check if pid else None)
        if pid and conf_changed:
            proc.stop(pid)
            done.append(f"stop {files.ifname}")
            pid = None
        if pid is None:
            starts.append((files, p, conf_changed))
        elif any(changed):
            proc.reload(pid)
            done.append(f"reload {files.ifname}")
    with timed("dnsmasq-start"):
        done += _start(starts, proc)
    for ifname in sorted(current_interfaces(state_dir) - {f.ifname for f in wanted}):
        stop(state_dir, ifname, proc)
        done.append(f"stop {ifname}")
    return done


def _start(starts: list[tuple[DnsmasqFiles, dict[str, Path], bool]],
           proc: Dnsmasq) -> list[str]:
    """Start these side by side: every process begun, then each waited for, whatever
    is raised meanwhile. Raises the first failure (a later one is logged) once every
    process begun was waited for (those that started keep running, found by their
    files: a failed push's rollback stops them)."""
    begun: list[tuple[DnsmasqFiles, dict[str, Path], bool, Callable[[], int]]] = []
    failures: list[BaseException] = []
    for files, p, conf_changed in starts:
        try:
            begun.append((files, p, conf_changed, proc.launch(p["conf"], p["pid"])))
        except BaseException as exc:  # e.g. no binary: the ones begun are still waited for
            failures.append(exc)
            if not isinstance(exc, Exception):
                break  # interrupted: begin no more
    done = [f"start {files.ifname}" for files, p, conf_changed, wait in begun
            if _waited(p, conf_changed, wait, failures)]
    if failures:
        # An interrupt (not an Exception) goes on as itself; otherwise the first failure.
        first = next((f for f in failures if not isinstance(f, Exception)), failures[0])
        for other in failures:
            if other is not first:
                LOG.warning("dnsmasq: another start failed too: %s", other)
        raise first
    return done


def _waited(p: dict[str, Path], conf_changed: bool, wait: Callable[[], int],
            failures: list[BaseException]) -> bool:
    """Wait for one start; True if it started, else its failure added to `failures`."""
    try:
        wait()
        private.tighten(*(p[key] for key in OWN_FILES))
    except ExitedAtStart as exc:
        # refused before it detached, so no process: as a refused check, the file is
        # not taken. Any other failure (no pid file seen in time) may have left a
        # daemon, found later by this file.
        if conf_changed:
            p["conf"].unlink(missing_ok=True)
        failures.append(exc)
        return False
    except BaseException as exc:  # the other starts are still waited for
        failures.append(exc)
        return False
    return True


def stop(state_dir: Path, ifname: str, proc: Dnsmasq) -> None:
    p = paths(state_dir, ifname)
    pid = proc.running(p["conf"], p["pid"])
    if pid:
        proc.stop(pid)
    for path in p.values():
        path.unlink(missing_ok=True)


def stop_all(state_dir: Path, proc: Dnsmasq) -> None:
    for ifname in current_interfaces(state_dir):
        stop(state_dir, ifname, proc)
    for path in state_dir.glob("dnsmasq-*"):  # a refused network's reloadable files
        path.unlink(missing_ok=True)
