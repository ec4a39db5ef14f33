"""The benches size the neighbour tables only when asked, and always put them back."""

from __future__ import annotations

import pytest
from bench import neigh_limits


@pytest.fixture
def proc(tmp_path, monkeypatch):
    for family in ("ipv4", "ipv6"):
        d = tmp_path / family / "neigh" / "default"
        d.mkdir(parents=True)
        (d / "gc_thresh2").write_text("512\n")
        (d / "gc_thresh3").write_text("1024\n")
    monkeypatch.setattr(neigh_limits, "PROC", tmp_path)
    return tmp_path


def _read(proc, family, key):
    return (proc / family / "neigh" / "default" / key).read_text().strip()


def test_raised_for_the_run_and_restored_even_on_failure(proc, capsys):
    with pytest.raises(RuntimeError), neigh_limits.sized_for(1000, raise_limits=True):
        assert _read(proc, "ipv4", "gc_thresh3") == "2128"
        assert _read(proc, "ipv6", "gc_thresh2") == "1064"
        raise RuntimeError("the run failed")
    assert [_read(proc, f, k) for f in ("ipv4", "ipv6") for k in ("gc_thresh2", "gc_thresh3")] \
        == ["512", "1024", "512", "1024"]
    assert "restored at the end" in capsys.readouterr().out


def test_without_the_flag_nothing_changes_and_the_need_is_said(proc, capsys):
    with neigh_limits.sized_for(1000, raise_limits=False):
        assert _read(proc, "ipv4", "gc_thresh3") == "1024"
    assert "below the 2128 entries" in capsys.readouterr().out


def test_a_large_enough_table_is_left_alone(proc, capsys):
    with neigh_limits.sized_for(100, raise_limits=True):
        assert _read(proc, "ipv4", "gc_thresh3") == "1024"
    assert capsys.readouterr().out == ""
