"""``astara-ctl browse`` driven by Textual's pilot against the in-tree fake API:
what is on screen after key presses (filter, sort, confirm or cancel a command, API down).

``ASTARA_BROWSE_SCREENSHOT=1`` also saves the screen as docs/img/browse.svg (the
README's picture of it).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual.widgets import DataTable, Static

from astara.cli.browse_app import BrowseApp, Confirm
from astara.cli.browse_fake import FakeOrchestratorAPI, resource

NOW = 1_800_000_000.0
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"


def fleet() -> list[dict]:
    return [resource(1, tenant="alpha", at=NOW - 90),
            resource(2, tenant="beta", state="booting", status="BUILD", at=NOW - 5),
            resource(3, tenant="alpha", state="error", status="ERROR", at=NOW - 400,
                     error="appliance vm-00003 did not answer within 120 s"),
            resource(4, kind="loadbalancer", tenant="beta", at=NOW - 7200,
                     error="[Errno 111] [bold]refused")]


def run(test, api: FakeOrchestratorAPI | None = None):
    """Run ``test(app, pilot)`` against a browse app over ``api`` (default: ``fleet()``)."""
    api = api if api is not None else FakeOrchestratorAPI(fleet())

    async def main():
        app = BrowseApp(api, interval=0, clock=lambda: NOW)
        async with app.run_test(size=(150, 40)) as pilot:
            await settle(app, pilot)
            await test(app, pilot)
    asyncio.run(main())
    return api


async def settle(app: BrowseApp, pilot) -> None:
    """Every fetch and command done and the screen updated after them."""
    for _ in range(3):  # a command's worker starts a refresh when it is done
        await app.workers.wait_for_complete()
        await pilot.pause()


def ids(app: BrowseApp) -> list[str]:
    table = app.query_one("#table", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def text(app: BrowseApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def test_every_router_and_load_balancer_is_a_row_with_its_columns():
    async def check(app, pilot):
        table = app.query_one("#table", DataTable)
        assert [str(c.label) for c in table.columns.values()] == [
            "KIND", "ID", "TENANT", "STATUS", "STATE", "APPLIANCE", "LAST ERROR", "AGE"]
        assert ids(app) == ["lb-00004", "r-00001", "r-00002", "r-00003"]
        assert [str(c) for c in table.get_row("r-00003")] == [
            "router", "r-00003", "alpha", "ERROR", "error", "vm-00003",
            "appliance vm-00003 did not answer within 120 s", "6m"]
        assert str(table.get_row("lb-00004")[6]) == "[Errno 111] [bold]refused"  # no markup
        assert "routers 3, load balancers 1, shown 4" in text(app, "#status")
    run(check)


def test_filter_by_tenant_status_and_text():
    async def check(app, pilot):
        await pilot.press("slash", *"tenant:alpha")
        await pilot.pause()
        assert ids(app) == ["r-00001", "r-00003"]
        await pilot.press(*" status:error")
        await pilot.pause()
        assert ids(app) == ["r-00003"]
        app.query_one("#filter").value = "vm-00002"
        await pilot.pause()
        assert ids(app) == ["r-00002"]
        app.query_one("#filter").value = ""
        await pilot.pause()
        assert len(ids(app)) == 4
        await pilot.press("escape", "s")  # back in the table, keys act again
        await pilot.pause()
        assert "sorted by tenant" in text(app, "#message")
    run(check)


def test_a_click_on_a_header_sorts_by_it_and_again_reverses():
    async def check(app, pilot):
        table = app.query_one("#table", DataTable)
        x = sum(c.get_render_width(table) for c in list(table.columns.values())[:2]) + 1
        await pilot.click("#table", offset=(x, 0))  # TENANT
        await pilot.pause()
        assert ids(app) == ["r-00001", "r-00003", "lb-00004", "r-00002"]
        await pilot.click("#table", offset=(x, 0))
        await pilot.pause()
        assert ids(app) == ["r-00002", "lb-00004", "r-00003", "r-00001"]
    run(check)


def test_sort_by_the_next_column_and_reverse():
    async def check(app, pilot):
        await pilot.press("s")  # id -> tenant, ties by id
        await pilot.pause()
        assert ids(app) == ["r-00001", "r-00003", "lb-00004", "r-00002"]
        await pilot.press("s", "s", "s", "s", "s")  # -> age: the most recent look first
        await pilot.pause()
        assert ids(app) == ["r-00002", "r-00001", "r-00003", "lb-00004"]  # <1m 1m 6m 2h
        await pilot.press("S")
        await pilot.pause()
        assert ids(app) == ["lb-00004", "r-00003", "r-00001", "r-00002"]
        assert "sorted by age, descending" in text(app, "#message")
    run(check)


def test_a_confirmed_rebuild_reaches_the_api_for_the_selected_router():
    async def check(app, pilot):
        await pilot.press("down", "down", "r")  # lb-00004, r-00001, r-00002
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert "rebuild (replace its appliance): router r-00002?" in str(
            app.screen.query_one("#question").render())
        await pilot.press("y")
        await settle(app, pilot)
        assert "rebuild: sent for router r-00002" in text(app, "#message")
    api = run(check)
    assert api.calls == [("router", "rebuild", "r-00002")]


def test_a_cancelled_rebuild_calls_nothing():
    async def check(app, pilot):
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await settle(app, pilot)
        assert not isinstance(app.screen, Confirm)
        assert "rebuild: cancelled" in text(app, "#message")
    api = run(check)
    assert api.calls == []


def test_debug_manage_update_and_poll_each_call_their_command():
    async def check(app, pilot):
        for key in ("d", "m", "u", "p"):  # on lb-00004, the first row
            await pilot.press(key, "y")
            await settle(app, pilot)
    api = run(check)
    assert api.calls == [("loadbalancer", "debug", "lb-00004"),
                         ("loadbalancer", "manage", "lb-00004"),
                         ("loadbalancer", "update", "lb-00004"), ("poll",)]


def test_the_detail_pane_shows_the_appliance_and_the_last_steps():
    async def check(app, pilot):
        await pilot.press("down", "down", "down")  # r-00003
        await pilot.pause()
        detail = text(app, "#detail")
        assert "router r-00003  tenant alpha" in detail
        assert "appliance vm-00003  management fdca:3ba5:a17a:acda::3" in detail
        assert "last error: appliance vm-00003 did not answer within 120 s" in detail
        assert "Alive  error  requeue  healthy  error: appliance vm-00003" in detail
        assert "ConfigureVM  configured  done  config pushed" in detail
        assert "appliance report: config d3, 1 applies" in detail
        assert "interfaces: ge0 up fdca:3ba5:a17a:acda::3/64; ge1 up 172.16.0.1/24" in detail
        assert "services: nftables ok, dnsmasq-ge1 ok" in detail
    run(check)


def test_api_down_is_one_line_and_the_table_stays_then_recovers():
    async def check(app, pilot):
        app.api.down = "orchestrator unreachable at http://127.0.0.1:44250: refused"
        await pilot.press("g")
        await settle(app, pilot)
        assert text(app, "#message") == (
            "orchestrator: orchestrator unreachable at http://127.0.0.1:44250: refused")
        assert app.query_one("#message").has_class("error")
        assert len(ids(app)) == 4  # the last rows known stay
        await pilot.press("r", "y")
        await settle(app, pilot)
        assert text(app, "#message").startswith("rebuild: orchestrator unreachable")
        app.api.down = None
        await pilot.press("g")
        await settle(app, pilot)
        assert text(app, "#message") == ""
    api = run(check)
    assert api.calls == []


def test_a_refresh_changes_only_the_cells_that_changed():
    api = FakeOrchestratorAPI(fleet())

    async def check(app, pilot):
        table = app.query_one("#table", DataTable)
        before = table.get_row_index("r-00003")
        changed = fleet()
        changed[1] = resource(2, tenant="beta", at=NOW - 5)  # booted: up, ACTIVE
        del changed[0]
        changed.append(resource(9, tenant="gamma", at=NOW))
        api.set(changed)
        await pilot.press("g")
        await settle(app, pilot)
        assert ids(app) == ["lb-00004", "r-00002", "r-00003", "r-00009"]
        assert [str(c) for c in table.get_row("r-00002")][3:5] == ["ACTIVE", "up"]
        assert before == 3 and table.get_row_index("r-00003") == 2
    run(check, api)


def test_screenshot_for_the_readme():
    """Saved only when asked (ASTARA_BROWSE_SCREENSHOT=1): it is committed once."""
    async def check(app, pilot):
        await pilot.press("down", "down", "down")
        await pilot.pause()
        assert "router r-00003" in text(app, "#detail")
        if os.environ.get("ASTARA_BROWSE_SCREENSHOT"):
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            app.save_screenshot("browse.svg", path=str(DOCS_IMG))
            assert (DOCS_IMG / "browse.svg").read_text().startswith("<svg")
    run(check)


def test_a_refresh_under_the_dialog_neither_breaks_it_nor_changes_its_target():
    api = FakeOrchestratorAPI(fleet())

    async def check(app, pilot):
        await pilot.press("down", "r")  # r-00001
        await pilot.pause()
        await pilot.press("r", "u")  # keys of the table are not heard under the dialog
        await pilot.pause()
        assert len(app.screen_stack) == 2
        api.set([resource(0, tenant="zeta", at=NOW), *fleet()])  # a row above it
        app.action_refresh()
        await settle(app, pilot)
        assert isinstance(app.screen, Confirm) and len(ids(app)) == 5
        await pilot.press("y")
        await settle(app, pilot)
    run(check, api)
    assert api.calls == [("router", "rebuild", "r-00001")]
