"""``astara-ctl browse``: a Textual TUI over the orchestrator's RPC API (``browse_api``).

One table of every router and load balancer, refreshed every ``interval`` seconds by
a worker thread (the fetch and the row building never run on the UI thread), which
hands the UI thread only the cells that changed (``browse_rows.diff``). Keys act on
the selected resource through the same requests as ``astara-ctl <kind> <action> ID``,
each after a confirmation. An API error is one line at the bottom, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static
from textual.worker import Worker

from astara.cli import browse_detail, browse_rows
from astara.cli.browse_api import APIError, OrchestratorAPI
from astara.cli.browse_rows import KEYS, Changes, Filter, Row

# Key, action, what the confirmation asks.
ACTIONS = {"rebuild": "rebuild (replace its appliance)", "update": "update (reconcile now)",
           "debug": "debug (the orchestrator leaves it alone)",
           "manage": "manage (hand it back to the orchestrator)"}


class Confirm(ModalScreen[bool]):
    """Yes or no; y / n / Escape."""

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n", "answer(False)", "no"),
                Binding("escape", "answer(False)", "no")]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 72; height: auto; border: thick $warning; padding: 1 2;
                         background: $surface; }
    Confirm Horizontal { height: auto; margin-top: 1; }
    Confirm Button { margin-right: 2; }
    """

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class BrowseApp(App[None]):
    TITLE = "astara-ctl browse"
    CSS = """
    #filter { height: 3; }
    #table { height: 1fr; }
    #detail { height: 16; border-top: solid $accent; padding: 0 1; }
    #status, #message { height: 1; padding: 0 1; }
    #message.error { color: $error; text-style: bold; }
    """
    BINDINGS = [
        Binding("r", "confirm('rebuild')", "rebuild"),
        Binding("u", "confirm('update')", "update"),
        Binding("d", "confirm('debug')", "debug"),
        Binding("m", "confirm('manage')", "manage"),
        Binding("p", "confirm('poll')", "poll all"),
        Binding("g", "refresh", "refresh"),
        Binding("s", "sort", "sort"),
        Binding("S", "reverse", "reverse"),
        Binding("slash", "focus_filter", "filter"),
        Binding("escape", "focus_table", "table", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, api: OrchestratorAPI, interval: float = 5.0,
                 clock: Callable[[], float] = time.time):
        super().__init__()
        self.api = api
        self.interval = interval
        self.clock = clock
        self.views: dict[str, dict] = {}
        self.rows: dict[str, Row] = {}  # every resource's cells, filtered or not
        self.shown: dict[str, Row] = {}  # what the table holds; replaced, never mutated
        self.filter = Filter()
        self.sort_column, self.sort_reverse = "id", False
        self.fetching = False
        # Per refresh applied: (seconds on the UI thread, seconds from fetch to applied).
        self.timings: list[tuple[float, float]] = []

    # -- layout ---------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: tenant:ID status:WORD text   (/ to type, "
                    "Escape back to the table)", id="filter")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail")
        yield Static("connecting...", id="status")
        yield Static("", id="message")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#table", DataTable)
        for key, header in browse_rows.COLUMNS:
            table.add_column(header, key=key)
        table.focus()
        self.action_refresh()
        if self.interval > 0:
            self.set_interval(self.interval, self.action_refresh)

    @property
    def table(self) -> DataTable:
        return self.query_one("#table", DataTable)

    def say(self, text: str, error: bool = False) -> None:
        """One plain line (an error's first line only)."""
        msg = self.query_one("#message", Static)
        msg.update(browse_rows.one_line(text, 200))
        msg.set_class(error, "error")

    # -- refresh: fetch off the UI thread, apply only the changes on it -------------
    def action_refresh(self) -> Worker | None:
        if self.fetching:  # a slow API never piles up fetches
            return None
        self.fetching = True
        return self.run_worker(self._fetch, thread=True, group="fetch")

    def _fetch(self) -> None:
        started = time.perf_counter()
        try:
            views = {v["id"]: v for v in self.api.resources()
                     if isinstance(v, dict) and isinstance(v.get("id"), str)}
            now = self.clock()
            rows = {k: browse_rows.row(v, now) for k, v in views.items()}
            shown, f = self.shown, self.filter
            wanted = browse_rows.visible(rows, f)
            changes = browse_rows.diff(shown, wanted)
        except APIError as exc:
            self.call_from_thread(self._failed, f"orchestrator: {exc}")
            return
        except Exception as exc:  # one line on screen, never a traceback
            self.call_from_thread(self._failed, f"browse: {type(exc).__name__}: {exc}")
            return
        self.call_from_thread(self._apply, views, rows, shown, f, wanted, changes, started)

    def _failed(self, text: str) -> None:
        self.fetching = False
        self.say(text, error=True)

    def _apply(self, views: dict[str, dict], rows: dict[str, Row], shown: dict[str, Row],
               f: Filter, wanted: dict[str, Row], changes: Changes, started: float) -> None:
        t0 = time.perf_counter()
        self.fetching = False
        self.views, self.rows = views, rows
        if shown is not self.shown or f != self.filter:  # the filter moved meanwhile
            wanted = browse_rows.visible(rows, self.filter)
            changes = browse_rows.diff(self.shown, wanted)
        self._change(wanted, changes)
        routers = sum(1 for v in views.values() if (v.get("kind") or "router") == "router")
        self.query_one("#status", Static).update(
            f"routers {routers}, load balancers {len(views) - routers}, shown {len(wanted)}"
            f" - refreshed {time.strftime('%H:%M:%S', time.gmtime(self.clock()))} UTC")
        if self.query_one("#message", Static).has_class("error"):
            self.say("")
        self._show_detail()
        done = time.perf_counter()
        self.timings.append((done - t0, done - started))

    def _change(self, wanted: dict[str, Row], changes: Changes) -> None:
        table = self.table
        selected = self.selected_key()
        if browse_rows.rebuild(changes):
            table.clear()
            for key, cells in wanted.items():
                table.add_row(*map(Text, cells), key=key)
            self.shown = wanted
            self._sort(selected)
            return
        for key in changes.removed:
            table.remove_row(key)
        for key, column, cell in changes.changed:
            table.update_cell(key, KEYS[column], Text(cell))
        for key, cells in changes.added:
            table.add_row(*map(Text, cells), key=key)
        self.shown = wanted
        if changes.touches(KEYS.index(self.sort_column)):
            self._sort(selected)

    def _sort(self, keep: str | None = None) -> None:
        column = self.sort_column
        # Ties in id order, so equal cells never swap between refreshes.
        self.table.sort(column, "id", reverse=self.sort_reverse,
                        key=lambda cells: browse_rows.sort_value(column, cells[0].plain,
                                                                 cells[1].plain))
        if keep is not None and keep in self.shown:
            self.table.move_cursor(row=self.table.get_row_index(keep))

    # -- selection and detail --------------------------------------------------------
    def selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # no row under the cursor
            return None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.selected_key()
        view = self.views.get(key) if key else None
        self.query_one("#detail", Static).update(
            "\n".join(browse_detail.lines(view)) if view else "nothing selected")

    # -- filter and sort -------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filtered(self, event: Input.Changed) -> None:
        self.filter = browse_rows.parse_filter(event.value)
        wanted = browse_rows.visible(self.rows, self.filter)
        self._change(wanted, browse_rows.diff(self.shown, wanted))
        self._show_detail()

    @on(Input.Submitted, "#filter")
    def _submitted(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self._sort(self.selected_key())

    def action_sort(self) -> None:
        """The next column, ascending."""
        self.sort_column = KEYS[(KEYS.index(self.sort_column) + 1) % len(KEYS)]
        self.sort_reverse = False
        self._sort(self.selected_key())
        self.say(f"sorted by {self.sort_column}")

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._sort(self.selected_key())
        order = "descending" if self.sort_reverse else "ascending"
        self.say(f"sorted by {self.sort_column}, {order}")

    # -- commands --------------------------------------------------------------------
    def action_confirm(self, action: str) -> None:
        if action == "poll":
            question, run = "poll: re-check every router now?", self.api.poll
        else:
            key = self.selected_key()
            view = self.views.get(key) if key else None
            if view is None:
                self.say("nothing selected", error=True)
                return
            kind = view.get("kind") or "router"
            question = f"{ACTIONS[action]}: {kind} {key}?"
            def run() -> dict:
                return self.api.command(kind, action, key)

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(lambda: self._command(action, run), thread=True,
                                group="command")
            else:
                self.say(f"{action}: cancelled")

        self.push_screen(Confirm(question), answered)

    def _command(self, action: str, run: Callable[[], dict]) -> None:
        try:
            got = run()
        except APIError as exc:
            self.call_from_thread(self.say, f"{action}: {exc}", True)
            return
        except Exception as exc:  # one line on screen, never a traceback
            self.call_from_thread(self.say, f"{action}: {type(exc).__name__}: {exc}", True)
            return
        what = (f"{got.get('queued')} queued" if action == "poll"
                else f"sent for {got.get('kind') or ''} {got.get(got.get('kind') or '', '')}")
        self.call_from_thread(self.say, f"{action}: {what}")
        self.call_from_thread(self.action_refresh)
