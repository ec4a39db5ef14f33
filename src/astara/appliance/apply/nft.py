"""nftables port: load rulesets in the current namespace.

`converge` hands it text from `render.nft`: a full ruleset or a floating IP
delta. Both are loaded as one nftables transaction, so text the kernel or the
parser refuses changes nothing (that transaction *is* the validation step);
the full ruleset is also kept in `ruleset.nft` (written by temp name and rename)
for operators. `NftLib` runs in-process through libnftables (`common.libnft`);
`NftCli` forks `nft` (checked with `nft -c` first) where the library is missing;
`make_nft` picks one. Both read the tables present and the named counters
straight from the kernel (`observe.nftables`: one nfnetlink dump, no process, no
ruleset text). `apply.fakes.FakeNft` records the same calls for unit tests.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from astara.appliance.apply.errors import CommandFailed, ValidationFailed
from astara.appliance.apply.files import write_checked
from astara.appliance.observe import nftables as kernel
from astara.common import libnft

LOG = logging.getLogger(__name__)

RULESETS = ("list table inet astara", "list table netdev astara")


class Nft(Protocol):
    def load_full(self, text: str) -> None: ...

    def load_delta(self, text: str) -> None: ...

    def counters(self) -> dict[str, tuple[int, int]]: ...

    def tables(self) -> set[tuple[str, str]]:
        """(family, name) of the tables loaded."""

    def ruleset(self) -> str: ...

    def close(self) -> None: ...


def counters() -> dict[str, tuple[int, int]]:
    """The named counters of table inet astara ({} when it cannot be read)."""
    try:
        return kernel.counters("inet", "astara")
    except OSError as exc:
        LOG.warning("nftables: cannot read the counters: %s", exc)
        return {}


class NftLib:
    """In-process; falls back to `NftCli` for good when no low descriptor is free."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "ruleset.nft"
        self._ctx = libnft.Context()
        self._cli: NftCli | None = None

    def _run(self, text: str, json: bool = False) -> tuple[int, str, str] | None:
        """The library's answer, or None once this appliance uses the binary."""
        if self._cli is None:
            try:
                return self._ctx.run(text, json)
            except libnft.NoLowDescriptor:
                LOG.warning("nftables: no descriptor below %d left for libnftables in %s: "
                            "using the nft binary for this appliance", libnft.FD_SETSIZE,
                            self.path.parent)
                self._cli = NftCli(self.path.parent)
        return None

    def load_full(self, text: str) -> None:
        self.path.unlink(missing_ok=True)  # what is loaded is unknown until this succeeds
        if (res := self._run(text)) is None:
            assert self._cli is not None
            return self._cli.load_full(text)
        rc, _out, err = res
        if rc:
            raise ValidationFailed(f"nftables refused the ruleset: {err.strip()}")
        write_checked(self.path, text)

    def load_delta(self, text: str) -> None:
        if (res := self._run(text)) is None:
            assert self._cli is not None
            return self._cli.load_delta(text)
        rc, _out, err = res
        if rc:
            raise CommandFailed(f"nft delta failed: {err.strip()}")

    def counters(self) -> dict[str, tuple[int, int]]:
        return counters()

    def tables(self) -> set[tuple[str, str]]:
        return kernel.tables()

    def ruleset(self) -> str:
        if self._cli is None:
            results = [self._run(command) for command in RULESETS]
            if all(r is not None for r in results):
                return "".join(r[1] for r in results if r is not None and r[0] == 0)
        assert self._cli is not None
        return self._cli.ruleset()

    def close(self) -> None:
        self._ctx.close()


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
        return counters()

    def tables(self) -> set[tuple[str, str]]:
        return kernel.tables()

    def ruleset(self) -> str:
        results = [_nft(*command.split()) for command in RULESETS]
        return "".join(res.stdout for res in results if res.returncode == 0)

    def close(self) -> None:
        pass


def make_nft(state_dir: Path, load_library: Callable[[], object] = libnft.load) -> Nft:
    """`NftLib` when the library loads, else `NftCli` (`load_library` raises OSError)."""
    try:
        load_library()
    except OSError:
        return NftCli(state_dir)
    return NftLib(state_dir)
