"""``wake.nsid``: the id the agent's namespace has for an appliance's, asked of the
kernel with plain netlink requests (RTM_GETNSID, then RTM_NEWNSID when it has none).

It is what the shared change sockets report a namespace's changes under, so it must
be the kernel's own id: the one ``ip netns list`` shows."""

from __future__ import annotations

import errno
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from topology import Topology

from astara.appliance import wake

pytestmark = [pytest.mark.functional]


@pytest.fixture
def topo():
    work = Path(tempfile.mkdtemp(prefix="astara-nsid-"))
    t = Topology(work)
    try:
        yield t
    finally:
        t.destroy()
        shutil.rmtree(work, ignore_errors=True)


def listed_id(name: str) -> int | None:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(rf"^{re.escape(name)} \(id: (\d+)\)$", out, re.M)
    return int(m[1]) if m else None


def test_a_namespace_without_an_id_is_given_one_and_keeps_it(topo):
    first, second = topo.netns("a"), topo.netns("b")
    assert listed_id(first) is None and listed_id(second) is None  # none asked yet
    a = wake.nsid(first)
    b = wake.nsid(second)
    assert a != b and a >= 0 and b >= 0
    assert (listed_id(first), listed_id(second)) == (a, b)  # the kernel's, not ours
    assert wake.nsid(first) == a  # asked again: the same


def test_an_id_set_by_hand_is_the_one_returned(topo):
    name = topo.netns("c")
    subprocess.run(["ip", "netns", "set", name, "4242"], check=True)
    assert wake.nsid(name) == 4242


def test_a_namespace_that_is_not_there_is_an_oserror(topo):
    with pytest.raises(OSError):
        wake.nsid(topo.name("never-made"))


def test_a_name_not_mounted_yet_is_einval_from_the_kernel(topo):
    """What `ip netns add` leaves for an instant (the file before its mount): the kernel
    refuses the request, and the agent tries the add again rather than warn."""
    plain = Path(wake.NETNS_RUN_DIR) / topo.name("plain")
    plain.touch()
    try:
        with pytest.raises(OSError) as refused:
            wake.nsid(plain.name)
        assert refused.value.errno == errno.EINVAL
    finally:
        plain.unlink()
