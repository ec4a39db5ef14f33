"""``nft -f -`` through libnftables as root: applied in the calling thread's network
namespace (a context made per call), as one transaction, and no ``nft`` started."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest

from astara.common.netns import entered
from astara.compute_service.agent import runner
from astara.compute_service.agent.runner import NFT_SCRIPT, CommandError, SubprocessRunner

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not shutil.which("nft") or runner.nft_context() is None,
                       reason="needs nftables and libnftables"),
]


@pytest.fixture
def namespaces():
    names = [f"asttest-nft-{secrets.token_hex(3)}" for _ in range(2)]
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def tables(ns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def no_nft_process(monkeypatch):
    real = subprocess.run

    def guarded(argv, *args, **kwargs):
        assert argv[0] != "nft", "nft was started"
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(runner.subprocess, "run", guarded)


def test_each_namespace_gets_its_own_tables(namespaces, no_nft_process):
    a, b = namespaces
    table = f"astt{secrets.token_hex(3)}"
    with entered(a):
        SubprocessRunner().run(NFT_SCRIPT, stdin=f"add table netdev {table}a\n")
    with entered(b):
        SubprocessRunner().run(NFT_SCRIPT, stdin=f"add table netdev {table}b\n")
    with entered(a):  # the first namespace's context again, not the second's
        SubprocessRunner().run(NFT_SCRIPT, stdin=f"add table netdev {table}c\n")
    assert f"{table}a" in tables(a) and f"{table}c" in tables(a)
    assert f"{table}b" not in tables(a)
    assert f"{table}b" in tables(b) and f"{table}a" not in tables(b)


def test_a_refused_script_applies_nothing(namespaces, no_nft_process):
    """Refused by the kernel (a rule for a chain not there), not by the parser: the
    table and chain before it, sent in the same batch, are not applied either."""
    a, _ = namespaces
    table = f"astt{secrets.token_hex(3)}"
    script = (f"add table netdev {table}\nadd chain netdev {table} c\n"
              f"add rule netdev {table} nochain accept\n")
    with entered(a), pytest.raises(CommandError) as err:
        SubprocessRunner().run(NFT_SCRIPT, stdin=script)
    assert "Could not process rule" in str(err.value)
    assert table not in tables(a)
    with entered(a):
        assert SubprocessRunner().run(NFT_SCRIPT, check=False, stdin=script) == ""
    assert table not in tables(a)


def test_an_error_names_the_refused_line(namespaces, no_nft_process):
    """As ``nft -f -`` does: the line's number and text (a buffer given to the library
    showed the first line instead)."""
    a, _ = namespaces
    table = f"astt{secrets.token_hex(3)}"
    refused = f"add rule netdev {table} nochain accept"
    with entered(a), pytest.raises(CommandError) as err:
        SubprocessRunner().run(NFT_SCRIPT, stdin=f"add table netdev {table}\n"
                               f"add chain netdev {table} c\n{refused}\n")
    assert err.value.rc == 1
    assert "/dev/stdin:3:" in str(err.value) and refused in str(err.value), str(err.value)
