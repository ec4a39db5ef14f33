"""The runner's ``nft -f -`` goes to libnftables in this process when it loads, with
``nft``'s errors and ``check``; without the library, without a low descriptor for
its socket, or for any other ``nft`` command, ``nft`` is started."""

from __future__ import annotations

import subprocess
import threading

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
        if "refused" in text:  # nft_run_cmd_from_filename's answer
            return -1, "", "Error: No such file or directory\n"
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


class Hung:
    """libnftables standing in, its calls never returning until ``release``."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()
        self.nft_ctx_new = lambda flags: 1
        self.nft_ctx_free = self.nft_ctx_buffer_output = self.nft_ctx_buffer_error = \
            lambda ctx: None
        self.nft_ctx_output_set_flags = lambda ctx, flags: None
        self.nft_ctx_get_output_buffer = self.nft_ctx_get_error_buffer = lambda ctx: b""

    def nft_run_cmd_from_filename(self, ctx, name):
        self.entered.set()
        self.release.wait(30)
        return 0


def test_a_hung_library_call_sends_the_next_plug_to_nft(monkeypatch, started):
    lib = Hung()
    monkeypatch.setattr(libnft, "load", lambda: lib)
    monkeypatch.setattr(runner, "COMMAND_TIMEOUT", 0.2)
    monkeypatch.setattr(runner, "_nft_tried", False)
    monkeypatch.setattr(runner, "_nft_context", None)
    ctx = runner.nft_context()
    first = threading.Thread(target=SubprocessRunner().run, args=(NFT_SCRIPT,),
                             kwargs={"stdin": "add table netdev t\n"})
    first.start()
    try:
        assert lib.entered.wait(10)
        with pytest.raises(libnft.Busy):
            ctx.run("add table netdev u\n")
        SubprocessRunner().run(NFT_SCRIPT, stdin="add table netdev u\n")
        assert started == [NFT_SCRIPT]  # waited 0.2 s, then ``nft`` (its own timeout)
    finally:
        lib.release.set()
        first.join(10)
    assert ctx.run("add table netdev v\n") == (0, "", "")  # free again
