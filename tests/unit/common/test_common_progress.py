"""Progress bars for long command-line operations: shown on a terminal, silent when the
stream is not one or the command prints for a program (JSON mode); what the burn-in
runner and reconcile-servers report."""

from __future__ import annotations

import io

import pytest

from astara.burnin.steps import Report, Runner, Step
from astara.cli import compute_manage
from astara.common import progress
from astara.compute_service.agent import reconcile


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        super().isatty()  # a closed one raises, as a closed terminal's stream does
        return True


@pytest.mark.parametrize(("tty", "machine", "shown"), [
    (True, False, True), (True, True, False), (False, False, False), (False, True, False)])
def test_bars_only_for_a_person_at_a_terminal(tty, machine, shown):
    assert progress.wanted(tty, machine) is shown


def drive(bar: progress.Progress) -> None:
    bar.phase("counting", 3)
    for item in ("a", "b", "c"):
        bar.now(item)
        bar.advance()
    bar.phase("sweeping")
    bar.advance(2)


def test_a_terminal_gets_bars_with_each_phase():
    out = Terminal()
    with progress.shown(out) as bar:
        assert isinstance(bar, progress.Bars)
        drive(bar)
    text = out.getvalue()
    assert "counting" in text and "3/3" in text and "sweeping" in text


@pytest.mark.parametrize(("stream", "machine"), [
    (io.StringIO(), False),  # not a terminal
    (Terminal(), True),  # JSON mode
])
def test_no_terminal_or_json_mode_is_silent(stream, machine):
    with progress.shown(stream, machine_output=machine) as bar:
        assert bar is progress.SILENT
        drive(bar)
    assert stream.getvalue() == ""


def test_a_closed_stream_is_not_a_terminal():
    closed = Terminal()
    closed.close()
    with progress.shown(closed) as bar:
        assert bar is progress.SILENT


def test_the_burn_in_runner_reports_each_step_as_it_starts_and_ends():
    seen = progress.Recorded()
    report = Report("r1")
    Runner(report, progress=seen).run([Step("one", lambda: None),
                                       Step("two", lambda: 1 / 0),
                                       Step("three", lambda: None)])
    assert seen.events == [("phase", "burn-in r1", 3), ("now", "one"), ("advance", 1),
                           ("now", "two"), ("advance", 1), ("now", "three"),
                           ("advance", 1)]
    assert [s.status for s in report.steps] == ["ok", "fail", "skipped"]


def test_reconcile_servers_counts_only_the_repairs_asked_for():
    seen = progress.Recorded()
    repairs = [reconcile.Repair("orphans", "o1", None), reconcile.Repair("stale", "s1", None),
               reconcile.Repair("orphans", "o2", None)]
    done = reconcile.apply(None, None, "h1", repairs, [], {}, {"orphans"}, seen)  # type: ignore[arg-type]
    assert done == ["o1", "o2"]
    assert seen.events == [("phase", "repairing", 2), ("now", "orphans o1"), ("advance", 1),
                           ("now", "orphans o2"), ("advance", 1)]


@pytest.mark.parametrize(("stdout", "stderr", "shown"), [
    (Terminal(), Terminal(), True),
    (io.StringIO(), Terminal(), False),  # its JSON piped to a program
    (Terminal(), io.StringIO(), False),  # stderr to a file
])
def test_compute_manage_bars_on_stderr_only_when_a_person_reads_both(stdout, stderr, shown):
    with compute_manage.bars(stdout, stderr) as bar:
        bar.phase("repairing", 1)
        bar.advance()
    assert isinstance(bar, progress.Bars) is shown
    assert ("repairing" in stderr.getvalue()) is shown and stdout.getvalue() == ""


@pytest.mark.parametrize(("stdout", "shown"), [(Terminal(), True), (io.StringIO(), False)])
def test_astara_burnin_shows_its_steps_on_a_terminal_only(monkeypatch, stdout, shown):
    from astara.burnin.scenario import Options
    from astara.cli import burnin as cli

    class Fake:
        def __init__(self, o: Options, progress: progress.Progress):
            self.runner = Runner(Report("r9"), progress=progress)

        def run(self) -> Report:
            return self.runner.run([Step("router ACTIVE", lambda: None)])

    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Scenario", Fake)
    monkeypatch.setattr(cli.sys, "stdout", stdout)
    assert cli.main(["--skip-loadbalancer"]) == 0
    text = stdout.getvalue()
    assert ("burn-in r9: router ACTIVE" in text and "━" in text) is shown  # the bar
    assert "burn-in r9: PASSED" in text  # the verdict, either way
