"""The highest orchestrator tenure an appliance accepted a push from, kept on disk.

``put_config`` asks ``admit(tenure)`` under the appliance's lock before applying:
an epoch older than the highest accepted is refused (``wire.tenure.refusal``); a
newer one is written down first (``tenure.json`` in the appliance's private state
directory, 0600, synced and replaced atomically), so an agent restarted later still
refuses the older owner. A record that exists but cannot be read (an I/O error, not a
tenure, a negative or non-integer epoch) refuses every epoch-carrying call with 503
and one ERROR line, rather than fencing nothing. A push without an epoch (a single
node) is admitted and changes nothing. A newer epoch that cannot be written down
(ENOSPC, EIO, a failed fsync) is held in memory and ``Unsaved`` is raised: ``PUT
/v1/system/tenure/`` answers 503 (the member records it again later), a push applies
as before (one ERROR line). The same epoch is written again at its next call.
The file goes with the rest of the state directory when the appliance is torn down.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from astara.wire.tenure import MAX_EPOCH, MAX_OWNER, Tenure, refusal

LOG = logging.getLogger(__name__)
FILE = "tenure.json"


class Unreadable(Exception):
    """``tenure.json`` exists but cannot be read as a tenure: the appliance cannot know
    which epoch it accepted, so it refuses epoch-carrying calls (503) until it can."""


def load(state_dir: Path) -> Tenure | None:
    """The recorded tenure; None when there is none. Raises ``Unreadable``."""
    path = state_dir / FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{path}: {exc}") from exc
    try:
        data = json.loads(text)
        epoch, owner = data["epoch"], data["owner"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise Unreadable(f"{path}: not a tenure record ({type(exc).__name__})") from exc
    # bool is an int; Infinity and NaN parse as floats: none is an epoch.
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH or not isinstance(owner, str):
        raise Unreadable(f"{path}: epoch {str(epoch)[:40]!r} is not an integer in "
                         f"0..{MAX_EPOCH}")
    return Tenure(epoch, owner[:MAX_OWNER])


def save(state_dir: Path, tenure: Tenure) -> None:
    """Write the record durably: the file synced before it replaces the old one, and
    the directory synced after (a power loss leaves the old record or the new)."""
    path = state_dir / FILE
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"epoch": tenure.epoch, "owner": tenure.owner}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(state_dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        tmp.unlink(missing_ok=True)


class Unsaved(Exception):
    """A newer epoch was admitted (held in memory) but could not be written down: it
    would be forgotten at a restart, so the caller must not be told it is recorded."""


class Fencing:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self._accepted: Tenure | None = None
        self._loaded = False
        self._saved = True  # False: ``_accepted`` is held in memory only

    @property
    def accepted(self) -> Tenure | None:
        """The highest tenure accepted; raises ``Unreadable`` (logged, read again next
        time: an operator may repair or remove the file)."""
        if not self._loaded:
            try:
                self._accepted = load(self.state_dir)
            except Unreadable as exc:
                LOG.error("fencing: %s: refusing epoch-carrying calls until it can be "
                          "read (remove it to start from no epoch)", exc)
                raise
            self._loaded = True
        return self._accepted

    def admit(self, pushed: Tenure | None) -> str | None:
        """Why a push from ``pushed`` is refused (None: apply it, its epoch kept).
        Raises ``Unreadable`` for a push with an epoch when the record cannot be read,
        ``Unsaved`` when its epoch is kept in memory but could not be written down."""
        if pushed is None:
            return None  # a single node: the record is not consulted
        why = refusal(self.accepted, pushed)
        if why is not None or pushed is None:
            return why
        if self._accepted is None or pushed.epoch > self._accepted.epoch or (
                not self._saved and pushed.epoch == self._accepted.epoch):
            self._accepted = pushed
            try:
                save(self.state_dir, pushed)
            except OSError as exc:  # still fenced in memory, until a restart
                self._saved = False
                LOG.error("cannot record epoch %d in %s: %s", pushed.epoch,
                          self.state_dir / FILE, exc)
                raise Unsaved(f"epoch {pushed.epoch} not written down: {exc}") from exc
            self._saved = True
        return None
