"""The runner's ``nft -f -`` goes to libnftables in this process when it loads, with
``nft``'s errors and ``check``; without the library, without a low descriptor for
its socket, or for any other ``nft`` command, ``nft`` is started."""

from __future__ import annotations

import subprocess

import pytest

from astara.common import libnft
from astara.compute_service.agent import runner
from astara.compute_service.agent.runner import NFT_SCRIPT, CommandError, SubprocessRunner


class Library:
    """libnftables standing in: the scripts it got."""

    def __init__(self, low: bool = True):
        self.scripts: list[str] = []
        self.low = low

    def run(self, text: str, json: bool = False) -> tuple[int, str, str]:
        if not self.low:
            raise libnft.NoLowDescriptor("none")
        self.scripts.append(text)
        if "refused" in text:
            return 1, "", "Error: No such file or directory\n"
        return 0, "out", ""


@pytest.fixture
def started(monkeypatch) -> list[list[str]]:
    """The processes started (each succeeds)."""
    argvs: list[list[str]] = []

    def fake(argv, **kwargs):
        argvs.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(runner.subprocess, "run", fake)
    return argvs


def test_a_script_goes_to_the_library(monkeypatch, started):
    lib = Library()
    monkeypatch.setattr(runner, "nft_context", lambda: lib)
    assert SubprocessRunner().run(NFT_SCRIPT, stdin="add table netdev t\n") == "out"
    assert lib.scripts == ["add table netdev t\n"] and started == []


def test_a_refused_script_raises_as_nft_did(monkeypatch, started):
    monkeypatch.setattr(runner, "nft_context", Library)
    with pytest.raises(CommandError) as err:
        SubprocessRunner().run(NFT_SCRIPT, stdin="refused\n")
    assert str(err.value) == "nft -f -: rc=1: Error: No such file or directory"
    assert SubprocessRunner().run(NFT_SCRIPT, check=False, stdin="refused\n") == ""
    assert started == []


def test_nft_runs_otherwise(monkeypatch, started):
    monkeypatch.setattr(runner, "nft_context", lambda: pytest.fail("library asked"))
    SubprocessRunner().run(["nft", "-j", "list", "chains", "netdev"])
    monkeypatch.setattr(runner, "nft_context", lambda: None)  # not installed
    SubprocessRunner().run(NFT_SCRIPT, stdin="add table netdev t\n")
    monkeypatch.setattr(runner, "nft_context", lambda: Library(low=False))
    SubprocessRunner().run(NFT_SCRIPT, stdin="add table netdev u\n")
    assert started == [["nft", "-j", "list", "chains", "netdev"], NFT_SCRIPT, NFT_SCRIPT]
