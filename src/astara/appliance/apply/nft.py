"""nftables port: check and load rulesets in the current namespace.

`converge` hands it text from `render.nft`: a full ruleset (validated with
`nft -c`, written to `ruleset.nft` by temp name and rename, then loaded) or a
floating IP delta (loaded directly: `nft -f` is one transaction, so a bad delta
changes nothing). `apply.fakes.FakeNft` records the same calls for unit tests.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Protocol

from astara.appliance.apply.errors import CommandFailed, ValidationFailed
from astara.appliance.apply.files import write_checked


class Nft(Protocol):
    def load_full(self, text: str) -> None: ...

    def load_delta(self, text: str) -> None: ...

    def counters(self) -> dict[str, tuple[int, int]]: ...

    def ruleset(self) -> str: ...


def _nft(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["nft", *args], input=stdin, capture_output=True, text=True)


class NftCli:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "ruleset.nft"

    def load_full(self, text: str) -> None:
        def check(tmp: Path) -> None:
            res = _nft("-c", "-f", str(tmp))
            if res.returncode:
                raise ValidationFailed(f"nft -c refused the ruleset: {res.stderr.strip()}")

        self.path.unlink(missing_ok=True)  # always reload: the kernel may have drifted
        write_checked(self.path, text, check)
        res = _nft("-f", str(self.path))
        if res.returncode:
            self.path.unlink(missing_ok=True)
            raise CommandFailed(f"nft -f failed: {res.stderr.strip()}")

    def load_delta(self, text: str) -> None:
        res = _nft("-f", "-", stdin=text)
        if res.returncode:
            raise CommandFailed(f"nft delta failed: {res.stderr.strip()}")

    def counters(self) -> dict[str, tuple[int, int]]:
        res = _nft("-j", "list", "counters", "table", "inet", "astara")
        if res.returncode:
            return {}
        out = {}
        for item in json.loads(res.stdout).get("nftables", []):
            c = item.get("counter")
            if c:
                out[c["name"]] = (c.get("packets", 0), c.get("bytes", 0))
        return out

    def ruleset(self) -> str:
        res = _nft("list", "table", "inet", "astara")
        return res.stdout if res.returncode == 0 else ""
