"""``astara-ctl``'s table output: aligned columns, nothing cut, values printed as given."""

from astara.cli.ctl import _show

LONG = "0123456789abcdef" * 8  # wider than any terminal default


def lines(capsys) -> list[str]:
    return [line.rstrip() for line in capsys.readouterr().out.splitlines()]


def test_a_list_is_a_table_with_one_aligned_row_per_item(capsys):
    _show([{"id": LONG, "name": "r1", "status": "ACTIVE"},
           {"id": "b", "name": "[bold]r2[/bold]", "status": None}],
          "table", ["id", "name", "status"])
    out = lines(capsys)
    assert out[0].split() == ["ID", "NAME", "STATUS"]
    assert out[1].split() == [LONG, "r1", "ACTIVE"]
    assert out[2].split() == ["b", "[bold]r2[/bold]", "-"]  # no markup, None is "-"
    starts = [out[0].index("NAME"), out[1].index("r1"), out[2].index("[bold]")]
    assert starts == [len(LONG) + 2] * 3  # two spaces after the widest value


def test_an_empty_list_prints_the_header_only(capsys):
    _show([], "table", ["id", "name"])
    assert lines(capsys) == ["ID  NAME"]


def test_a_router_shows_its_fields_then_its_steps_in_columns(capsys):
    _show({"id": "r1", "steps": [
        {"step": "CalcAction", "status": "up", "outcome": "done", "reason": "healthy"},
        {"step": "StopVM", "status": "down", "outcome": "retry", "reason": "gone",
         "error": "boom"}]}, "table")
    assert lines(capsys) == ["id: r1", "steps:",
                             "  CalcAction  up    done   healthy",
                             "  StopVM      down  retry  gone  error: boom"]
