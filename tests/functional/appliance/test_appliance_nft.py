"""Both nftables ports in a namespace made here: libnftables in-process and the `nft` CLI.

The same rendered ruleset and floating IP delta go through each; a ruleset the
parser refuses changes nothing; the tables present and the counters are read from
the kernel over nfnetlink (`observe.nftables`) and agree with what `nft` lists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from topology import Topology, sh

from astara.appliance.apply.errors import ApplyError
from astara.appliance.apply.netns import entered
from astara.appliance.apply.nft import NftCli, NftLib, make_nft
from astara.appliance.render import nft as render_nft
from astara.common import libnft
from astara.wire import examples
from astara.wire.examples import router_config

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not shutil.which("nft") or not shutil.which("ip"),
                       reason="needs nft and iproute2"),
]
NAMES = {"mgmt": "ge0", "ext": "ge1", "net1": "ge2", "net2": "ge3"}


def _has_libnftables() -> bool:
    try:
        libnft.load()
    except OSError:
        return False
    return True


@pytest.fixture
def ns():
    work = Path(tempfile.mkdtemp(prefix="astara-nft-"))
    work.chmod(0o755)
    topo = Topology(work)
    try:
        name = topo.netns("nft")
        macs = (examples.MGMT_MAC, examples.EXT_MAC, examples.INT1_MAC, examples.INT2_MAC)
        for i, mac in enumerate(macs):
            sh("ip", "-n", name, "link", "add", f"ge{i}", "address", mac, "type", "veth",
               "peer", "name", f"pe{i}")
        yield name, work
    finally:
        topo.destroy()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("kind", ["lib", "cli"])
def test_full_load_delta_refusal_and_counters(ns, kind):
    if kind == "lib" and not _has_libnftables():
        pytest.skip("no libnftables")
    name, work = ns
    ruleset = render_nft.render(router_config(1), NAMES, 5000)
    bigger = render_nft.render(router_config(2), NAMES, 5000)
    with entered(name):
        port = NftLib(work) if kind == "lib" else NftCli(work)
        try:
            port.load_full(ruleset.full())
            assert (work / "ruleset.nft").read_text() == ruleset.full()
            port.load_delta(render_nft.fip_delta(ruleset.floating, bigger.floating))
            text = port.ruleset()
            assert "table inet astara" in text and "table netdev astara" in text
            assert "203.0.113.11" in text
            assert {"snat4", "dnat4"} <= set(port.counters())
            assert port.tables() == {("inet", "astara"), ("netdev", "astara")}
            with pytest.raises(ApplyError):
                port.load_full(ruleset.full() + "\nthis is not nftables\n")
            assert "203.0.113.11" in port.ruleset()  # the refused load changed nothing
        finally:
            port.close()


def test_tables_and_counters_read_over_nfnetlink_agree_with_nft(ns):
    from astara.appliance.observe import nftables
    name, work = ns
    ruleset = render_nft.render(router_config(1), NAMES, 5000)
    with entered(name):
        port = NftCli(work)
        port.load_full(ruleset.full())
    subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], check=True, text=True,
                   capture_output=True, input="table ip other {\n"
                   "  counter snat4 { packets 5 bytes 500 }\n"
                   "  counter mine { packets 9 bytes 2 }\n}\n"
                   "add counter inet astara extra { packets 7 bytes 1099511627776 }\n")
    listed = json.loads(sh("ip", "netns", "exec", name, "nft", "-j", "list", "counters",
                           "table", "inet", "astara").stdout)
    expected = {c["counter"]["name"]: (c["counter"]["packets"], c["counter"]["bytes"])
                for c in listed["nftables"] if "counter" in c}
    with entered(name):
        assert port.counters() == expected == nftables.counters("inet", "astara")
        assert expected["extra"] == (7, 1 << 40) and {"snat4", "dnat4"} <= set(expected)
        assert port.tables() == {("inet", "astara"), ("netdev", "astara"), ("ip", "other")}
        sh("nft", "delete", "table", "netdev", "astara")
        assert port.tables() == {("inet", "astara"), ("ip", "other")}


def _loads_a_ruleset(name: str, work: Path, **options) -> str:
    """Load the example router's ruleset through `make_nft`'s port; what nft lists."""
    ruleset = render_nft.render(router_config(1), NAMES, 5000)
    with entered(name):
        port = make_nft(work, **options)
        try:
            port.load_full(ruleset.full())
            return port.ruleset()
        finally:
            port.close()


def test_make_nft_uses_the_library_when_it_loads(ns, monkeypatch):
    if not _has_libnftables():
        pytest.skip("no libnftables")
    name, work = ns
    monkeypatch.setenv("PATH", str(work / "no-binaries"))  # the nft command cannot run
    assert "table inet astara" in _loads_a_ruleset(name, work)


def test_make_nft_runs_the_nft_command_without_the_library(ns, monkeypatch):
    name, work = ns
    calls = work / "nft-calls"
    wrapper = work / "bin" / "nft"  # the real nft, recording that it was run
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("nft")} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")

    def missing() -> None:
        raise OSError("libnftables.so.1: cannot open shared object file")

    assert "table inet astara" in _loads_a_ruleset(name, work, load_library=missing)
    assert calls.exists() and "-f" in calls.read_text()


def test_with_no_low_descriptor_left_the_nft_command_loads_instead_of_an_abort(ns, monkeypatch):
    """libnftables select()s on its socket: numbered 1024 or above, glibc aborts the agent
    (seen at ~250 appliances on one host). Past that, the appliance uses the binary."""
    if not _has_libnftables():
        pytest.skip("no libnftables")
    name, work = ns
    calls = work / "nft-calls"
    wrapper = work / "bin" / "nft"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("nft")} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    held = []
    try:
        while libnft.lowest_free_fd() < libnft.FD_SETSIZE:  # what a busy agent holds
            held.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        assert "table inet astara" in _loads_a_ruleset(name, work)
    finally:
        for fd in held:
            os.close(fd)
    assert calls.exists() and "-f" in calls.read_text()


def test_a_thousand_appliances_hold_no_low_descriptor_between_calls(ns):
    """Each appliance's port used to keep a libnftables socket open: at ~1,000 on one
    host no number below 1024 was left and every apply forked `nft`. Now a call opens
    one in the calling thread's namespace and closes it again."""
    if not _has_libnftables():
        pytest.skip("no libnftables")
    name, work = ns
    ruleset = render_nft.render(router_config(1), NAMES, 5000)
    with entered(name):
        first = NftLib(work)
        first.load_full(ruleset.full())
        before = libnft.lowest_free_fd()
        ports = [NftLib(work / f"a{i}") for i in range(1000)]
        for port in ports:
            assert "table inet astara" in port.ruleset()  # this namespace's tables
        assert libnft.lowest_free_fd() == before
        for port in [first, *ports]:
            port.close()
