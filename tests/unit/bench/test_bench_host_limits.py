"""The benches size the host's limits only when asked, and always put them back."""

from __future__ import annotations

import pytest
from bench import host_limits


@pytest.fixture
def proc(tmp_path, monkeypatch):
    for family in ("ipv4", "ipv6"):
        d = tmp_path / family / "neigh" / "default"
        d.mkdir(parents=True)
        (d / "gc_thresh2").write_text("512\n")
        (d / "gc_thresh3").write_text("1024\n")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "netdev_max_backlog").write_text("1000\n")
    monkeypatch.setattr(host_limits, "PROC", tmp_path)
    return tmp_path


def _values(proc):
    return {str(p.relative_to(proc)): p.read_text().strip()
            for p in sorted(proc.rglob("*")) if p.is_file()}


ORIGINAL = {"core/netdev_max_backlog": "1000",
            "ipv4/neigh/default/gc_thresh2": "512", "ipv4/neigh/default/gc_thresh3": "1024",
            "ipv6/neigh/default/gc_thresh2": "512", "ipv6/neigh/default/gc_thresh3": "1024"}


def test_raised_for_the_run_and_restored_even_on_failure(proc, capsys):
    with pytest.raises(RuntimeError), host_limits.sized_for(1000, raise_limits=True):
        assert _values(proc) == {
            "core/netdev_max_backlog": "1128",
            "ipv4/neigh/default/gc_thresh2": "1064", "ipv4/neigh/default/gc_thresh3": "2128",
            "ipv6/neigh/default/gc_thresh2": "1064", "ipv6/neigh/default/gc_thresh3": "2128"}
        raise RuntimeError("the run failed")
    assert _values(proc) == ORIGINAL
    out = capsys.readouterr().out
    assert "net.core.netdev_max_backlog set to 1128 (was 1000)" in out
    assert "net.ipv4.neigh.default.gc_thresh3 set to 2128" in out


def test_without_the_flag_nothing_changes_and_the_need_is_said(proc, capsys):
    with host_limits.sized_for(1000, raise_limits=False):
        assert _values(proc) == ORIGINAL
    assert "net.core.netdev_max_backlog = 1000 is below the 1128" in capsys.readouterr().out


def test_a_large_enough_host_is_left_alone(proc, capsys):
    with host_limits.sized_for(100, raise_limits=True):
        assert _values(proc) == ORIGINAL
    assert capsys.readouterr().out == ""
