"""``astara-ctl poll --wait``: which resources were re-checked since the poll (pure), the
follow loop with its progress, and the command through the RPC app: a bar on a terminal
in table format, nothing of it in JSON mode or when stderr is not a terminal."""

from __future__ import annotations

import io
import json
import sys

import httpx
import pytest
from tests.unit.orchestrator.test_orchestrator_loadbalancer_ctl import _InProcess

from astara.cli import ctl, ctl_poll
from astara.common.progress import Recorded
from astara.orchestrator.rpc import build_app

TOKEN = "t0ken"


def view(rid: str, *ats: float) -> dict:
    return {"id": rid, "steps": [{"at": at, "step": "Alive"} for at in ats]}


def test_looked_at_is_a_changed_last_step_or_gone():
    before = ctl_poll.marks([view("a", 1.0), view("b", 1.0), view("c"), view("d", 5.0)])
    now = ctl_poll.marks([view("a", 1.0), view("b", 1.0, 2.0), view("c", 3.0),
                          view("new", 4.0)])
    assert before["c"] is None
    assert ctl_poll.looked_at(before, now) == {"b", "c", "d"}  # d: gone meanwhile
    assert ctl_poll.looked_at(before, before) == set()


class Script:
    """The RPC answers, in order, for ``wait``'s calls; and a clock that sleeps advance."""

    def __init__(self, lists: list[list[dict]]):
        self.lists, self.calls, self.now = lists, [], 0.0

    def call(self, http, method: str, path: str) -> dict:
        self.calls.append((method, path))
        if path == "/poll/":
            return {"queued": 3}
        return {"routers": self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]}

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_follows_until_every_one_was_rechecked_and_counts_them():
    old = [view("a", 1.0), view("b", 1.0), view("c", 1.0)]
    s = Script([old, [view("a", 2.0), view("b", 1.0), view("c", 1.0)],
                [view("a", 2.0), view("b", 2.0), view("c", 2.0)]])
    seen = Recorded()
    got = ctl_poll.wait(None, s.call, seen, timeout=60, clock=lambda: s.now,
                        sleep=s.sleep)
    assert got == {"queued": 3, "rechecked": 3, "of": 3, "not_yet": [], "timed_out": False}
    assert seen.events == [("phase", "resources re-checked", 3), ("advance", 1),
                           ("advance", 2)]
    assert s.calls == [("GET", "/routers/"), ("PUT", "/poll/"), ("GET", "/routers/"),
                       ("GET", "/routers/")]


def test_wait_gives_up_at_the_timeout_and_names_who_is_left():
    old = [view("a", 1.0), view("b", 1.0)]
    s = Script([old, [view("a", 2.0), view("b", 1.0)]])
    got = ctl_poll.wait(None, s.call, Recorded(), timeout=5, interval=1.0,
                        clock=lambda: s.now, sleep=s.sleep)
    assert got == {"queued": 3, "rechecked": 1, "of": 2, "not_yet": ["b"], "timed_out": True}
    assert s.now == 5.0


class _Orch:
    """Two routers; a poll makes each take a step (as a pass would)."""

    def __init__(self):
        self.views = [view("r-1", 1.0), view("r-2", 1.0)]

    def poll(self) -> int:
        self.views = [{**v, "steps": [*v["steps"], {"at": 2.0, "step": "Alive"}]}
                      for v in self.views]
        return len(self.views)

    def router_views(self) -> list[dict]:
        return [dict(v) for v in self.views]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def through_app(monkeypatch):
    real = httpx.Client
    app = build_app(_Orch(), TOKEN.encode())  # type: ignore[arg-type]
    monkeypatch.setattr(ctl.httpx, "Client",
                        lambda **kw: real(transport=_InProcess(app), **kw))
    monkeypatch.setenv("ASTARA_RPC_TOKEN", TOKEN)


def test_ctl_poll_wait_shows_a_bar_on_a_terminal(through_app, monkeypatch, capsys):
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert ctl.main(["poll", "--wait"]) == 0
    assert "resources re-checked" in err.getvalue() and "2/2" in err.getvalue()
    out = capsys.readouterr().out
    assert "queued: 2" in out and "rechecked: 2" in out and "timed_out: False" in out


@pytest.mark.parametrize(("args", "err"), [
    (["--format", "json", "poll", "--wait"], Terminal()),  # JSON mode
    (["poll", "--wait"], io.StringIO()),  # stderr not a terminal
])
def test_ctl_poll_wait_is_silent_in_json_mode_or_off_a_terminal(through_app, monkeypatch,
                                                                capsys, args, err):
    monkeypatch.setattr(sys, "stderr", err)
    assert ctl.main(args) == 0
    assert err.getvalue() == ""
    out = capsys.readouterr().out
    if "json" in args:
        assert json.loads(out)["rechecked"] == 2
    else:
        assert "rechecked: 2" in out
