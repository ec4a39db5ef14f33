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
    a, _ = namespaces
    table = f"astt{secrets.token_hex(3)}"
    script = f"add table netdev {table}\nadd chain netdev {table} c {{ type nonsense; }}\n"
    with entered(a), pytest.raises(CommandError) as err:
        SubprocessRunner().run(NFT_SCRIPT, stdin=script)
    assert "syntax error" in str(err.value)
    assert table not in tables(a)
    with entered(a):
        assert SubprocessRunner().run(NFT_SCRIPT, check=False, stdin=script) == ""
