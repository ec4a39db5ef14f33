"""The last applied document, kept on disk so that a restarted agent knows it.

`converge` saves it after every successful apply and removes it when an apply
fails (the stack then matches no document for sure); `Appliance.restore` reads
it when an agent starts serving the appliance. Next to the document it keeps
the identity of the network stack it was applied to (`apply.netns.identity`:
boot and namespace), so a record that outlived a reboot, or a namespace
re-created under the same name, is recognised as stale. The file is written
under a temp name and renamed: a crash leaves the old record or the new one.
Floating IPs are kept as integer pairs, in document order: dumping thousands of
them as JSON objects would cost more than the floating IP change itself.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

from astara.wire.appliance_config import ApplianceConfig

FILE = "applied.json"


def save(state_dir: Path, identity: str, config: ApplianceConfig) -> None:
    fips = [(int(f.floating_ip), int(f.fixed_ip)) for f in config.floating_ips]
    text = (f'{{"identity": {json.dumps(identity)}, '
            f'"config": {config.model_dump_json(exclude={"floating_ips"})}, '
            f'"floating_ips": {json.dumps(fips)}}}')
    path = state_dir / FILE
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(state_dir: Path) -> tuple[str, dict[str, Any]] | None:
    """(identity, raw document) of the record, None if there is none. Raises
    ValueError for a record that cannot be read back."""
    try:
        text = (state_dir / FILE).read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        raw = dict(data["config"])
        ip = ipaddress.IPv4Address
        raw["floating_ips"] = [{"floating_ip": str(ip(a)), "fixed_ip": str(ip(b))}
                               for a, b in data["floating_ips"]]
        return str(data["identity"]), raw
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"unreadable record {state_dir / FILE}: {exc}") from exc


def remove(state_dir: Path) -> None:
    (state_dir / FILE).unlink(missing_ok=True)
