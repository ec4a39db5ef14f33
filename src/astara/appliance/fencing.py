"""The highest orchestrator tenure an appliance accepted a push from, kept on disk.

``put_config`` asks ``admit(tenure)`` under the appliance's lock before applying:
an epoch older than the highest accepted is refused (``wire.tenure.refusal``); a
newer one is written down first (``tenure.json`` in the appliance's private state
directory, 0600, replaced atomically), so an agent restarted later still refuses the
older owner. A push without an epoch (a single node) is admitted and changes nothing.
The file goes with the rest of the state directory when the appliance is torn down.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from astara.wire.tenure import Tenure, refusal

LOG = logging.getLogger(__name__)
FILE = "tenure.json"


def load(state_dir: Path) -> Tenure | None:
    """The recorded tenure; None when there is none or it cannot be read (logged)."""
    try:
        data = json.loads((state_dir / FILE).read_text())
        return Tenure(int(data["epoch"]), str(data["owner"]))
    except FileNotFoundError:
        return None
    except (KeyError, TypeError, ValueError) as exc:
        LOG.warning("unreadable %s: %s (no epoch known)", state_dir / FILE, exc)
        return None


def save(state_dir: Path, tenure: Tenure) -> None:
    path = state_dir / FILE
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"epoch": tenure.epoch, "owner": tenure.owner}, f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Fencing:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self._accepted: Tenure | None = None
        self._loaded = False

    @property
    def accepted(self) -> Tenure | None:
        if not self._loaded:
            self._accepted, self._loaded = load(self.state_dir), True
        return self._accepted

    def admit(self, pushed: Tenure | None) -> str | None:
        """Why a push from ``pushed`` is refused (None: apply it, its epoch kept)."""
        why = refusal(self.accepted, pushed)
        if why is not None or pushed is None:
            return why
        if self._accepted is None or pushed.epoch > self._accepted.epoch:
            self._accepted = pushed
            try:
                save(self.state_dir, pushed)
            except OSError as exc:  # still fenced in memory, until a restart
                LOG.error("cannot record epoch %d in %s: %s", pushed.epoch,
                          self.state_dir / FILE, exc)
        return None
