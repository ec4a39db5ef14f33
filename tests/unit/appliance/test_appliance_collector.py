"""The host agent's garbage collector settings (`appliance.collector`) and the sysctl
writes an apply skips (`apply.netns.sysctl`)."""

from __future__ import annotations

import gc
import weakref

import pytest

from astara.appliance.apply.netns import sysctl
from astara.appliance.collector import Collector, stale, thaws


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture
def collector():
    c = Collector(thaw_after=3)
    c.start()
    try:
        yield c
    finally:
        c.stop()  # nothing stays frozen in the test process


@pytest.mark.parametrize(("removed", "after", "thaw"), [
    (0, 100, False), (99, 100, False), (100, 100, True), (3, 3, True), (2, 3, False)])
def test_a_thaw_after_so_many_removals(removed, after, thaw):
    assert thaws(removed, after) is thaw


def test_what_survives_a_full_collection_is_frozen_and_not_walked_again(collector):
    survivor = Node()
    gc.collect()
    assert collector.freezes == 1
    assert gc.get_freeze_count() > 0
    # a frozen object is not walked: the collector does not find it among gen 2
    assert not any(o is survivor for o in gc.get_objects(2))


def test_a_young_cycle_is_still_freed(collector):
    gc.collect()
    node = Node()
    ref = weakref.ref(node)
    del node
    gc.collect()
    assert ref() is None


def test_a_frozen_cycle_left_is_freed_after_the_thaw(collector):
    node = Node()
    ref = weakref.ref(node)
    gc.collect()  # frozen with everything alive
    del node
    gc.collect()
    assert ref() is not None  # kept while frozen: what the thaw bounds
    collector.removed_one()
    collector.removed_one()
    assert gc.get_freeze_count() > 0
    collector.removed_one()  # the third removal: thawed
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert ref() is None


def test_a_cycle_frozen_too_long_is_freed_though_no_appliance_goes():
    now = [0.0]
    c = Collector(thaw_every=600.0, clock=lambda: now[0])
    c.start()
    try:
        node = Node()
        ref = weakref.ref(node)
        gc.collect()  # frozen, alive (a request's objects in flight, say)
        del node
        now[0] = 599.0
        gc.collect()
        assert ref() is not None and gc.get_freeze_count() > 0
        now[0] = 600.0
        gc.collect()  # kept long enough: thawed, not frozen again
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert ref() is None
        assert c.thawed_at == 600.0
    finally:
        c.stop()


@pytest.mark.parametrize(("since", "thaw"), [(0.0, False), (599.9, False), (600.0, True)])
def test_a_thaw_after_so_long(since, thaw):
    assert stale(since, 600.0) is thaw


def test_stop_thaws_and_freezes_no_more():
    c = Collector()
    c.start()
    gc.collect()
    c.stop()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gc.get_freeze_count() == 0 and c.freezes == 1


def test_a_sysctl_holding_the_value_is_not_written(tmp_path):
    key = tmp_path / "net" / "ipv4"
    key.mkdir(parents=True)
    (key / "ip_forward").write_text("1\n")
    before = (key / "ip_forward").stat().st_mtime_ns
    assert sysctl("net.ipv4.ip_forward", "1", root=str(tmp_path)) is False
    assert (key / "ip_forward").stat().st_mtime_ns == before


def test_a_sysctl_holding_another_value_is_written(tmp_path):
    key = tmp_path / "net" / "ipv4"
    key.mkdir(parents=True)
    (key / "ip_forward").write_text("0\n")
    assert sysctl("net.ipv4.ip_forward", "1", root=str(tmp_path)) is True
    assert (key / "ip_forward").read_text() == "1"
