"""``astara-ctl browse``'s pure decisions: cells, ages, filters, sort order, table changes."""

import pytest

from astara.cli import browse_detail, browse_rows
from astara.cli.browse_fake import resource
from astara.cli.browse_rows import Filter, diff, matches, parse_filter, row


@pytest.mark.parametrize(("seconds", "cell"), [
    (None, "-"), (-3, "<1m"), (0, "<1m"), (59.9, "<1m"), (60, "1m"), (3599, "59m"),
    (3600, "1h"), (86399, "23h"), (86400, "1d"), (10 * 86400 + 5, "10d")])
def test_age_is_coarse(seconds, cell):
    assert browse_rows.age(seconds) == cell
    if cell != "-":
        assert browse_rows.age_seconds(cell) <= max(0, seconds)


def test_a_row_from_a_view_with_missing_and_long_fields():
    view = resource(7, tenant="t1", at=100.0, error="line one\nline two " + "x" * 80)
    cells = row(view, now=190.0)
    assert cells[:6] == ("router", "r-00007", "t1", "ACTIVE", "up", "vm-00007")
    assert cells[6].startswith("line one line two x") and len(cells[6]) == 48
    assert cells[6].endswith("…") and cells[7] == "1m"
    assert row({"id": "x"}, now=0.0) == ("router", "x", "-", "-", "-", "-", "-", "-")


@pytest.mark.parametrize(("text", "expected"), [
    ("", Filter()),
    ("tenant:ABC", Filter(tenant="abc")),
    ("status:error web", Filter(status="error", words=("web",))),
    ("tenant: status:", Filter(words=("tenant:", "status:"))),
])
def test_parse_filter(text, expected):
    assert parse_filter(text) == expected


CELLS = ("router", "r-1", "tenant-a", "ERROR", "error", "vm-1", "boom", "5m")


@pytest.mark.parametrize(("text", "kept"), [
    ("", True), ("tenant:tenant-a", True), ("tenant:b", False), ("status:ERROR", True),
    ("status:err", False),  # a status matches whole, not a prefix
    ("status:error boom", True), ("status:up", False), ("vm-1 BOOM", True), ("vm-2", False),
])
def test_matches(text, kept):
    assert matches(parse_filter(text), CELLS) is kept


def test_sort_values_put_unknown_last_and_ages_by_seconds():
    cells = ["2h", "-", "<1m", "5m", "1d"]
    assert sorted(cells, key=lambda c: browse_rows.sort_value("age", c)) == [
        "<1m", "5m", "2h", "1d", "-"]
    assert sorted(["b", "-", "A"], key=lambda c: browse_rows.sort_value("tenant", c)) == [
        "A", "b", "-"]


def test_diff_names_removed_added_and_only_the_changed_cells():
    a, b, c = ("router", "a", "t", "ACTIVE"), ("router", "b", "t", "BUILD"), \
        ("router", "c", "t", "ACTIVE")
    changes = diff({"a": a, "b": b}, {"b": ("router", "b", "t", "ACTIVE"), "c": c})
    assert changes.removed == ["a"]
    assert changes.added == [("c", c)]
    assert changes.changed == [("b", 3, "ACTIVE")]
    assert changes.touches(3) and changes.touches(0)  # a row added may go anywhere
    same = diff({"b": b}, {"b": b})
    assert not same and not same.touches(3)
    assert not diff({"b": b}, {"b": ("router", "b", "t2", "BUILD")}).touches(3)


def test_detail_lines_of_a_load_balancer_and_of_a_view_without_steps():
    view = {**resource(4, kind="loadbalancer", at=0.0), "vip_address": "10.0.0.5",
            "listeners": 2, "provisioning_status": "ACTIVE", "operating_status": "ONLINE"}
    out = browse_detail.lines(view)
    assert out[0] == "loadbalancer lb-00004  tenant t0"
    assert "VIP 10.0.0.5  listeners 2  provisioning ACTIVE  operating ONLINE" in out
    assert out[-2:] == ["  00:00:00  Alive  up  requeue  healthy",  # the latest first
                        "  23:59:59  ConfigureVM  configured  done  config pushed"]
    bare = browse_detail.lines({"id": "r"})
    assert "appliance report: none yet" in bare
    assert bare[-1] == "last steps: none yet"
    assert "appliance -  management -  last status check -" in bare
