"""The rules ``astara-debug-router`` borrows a router by: which pass confirms the hold,
and what it says when it cannot hand the router back."""

from __future__ import annotations

import contextlib
import signal

import pytest

from astara.cli import debug_router
from astara.cli.router_hold import HoldError, LeftInDebug, hold, last_debug_exit, rpc_url
from astara.common.entry import ConfigError


def _step(step: str, reason: str, at: float) -> dict:
    return {"step": step, "reason": reason, "at": at}


@pytest.mark.parametrize("steps, after, expected", [
    ([], 0.0, None),
    ([_step("Exit", "debug mode: left alone", 10.0)], 5.0, 10.0),
    ([_step("Exit", "debug mode: left alone", 10.0)], 10.0, None),  # an old one
    ([_step("Exit", "debug mode: left alone", 10.0), _step("CreateVM", "no instance", 11.0)],
     5.0, None),  # it acted after: not (or no longer) held
    ([_step("Exit", "router deleted", 12.0)], 5.0, None),
    ([_step("CalcAction", "observation failed", 12.0)], 5.0, None),
])
def test_only_a_new_debug_exit_confirms(steps, after, expected):
    assert last_debug_exit({"steps": steps}, after) == expected


def test_an_unknown_router_is_not_confirmed():
    assert last_debug_exit(None, 0.0) is None


@pytest.mark.parametrize("hosts, url", [
    (("127.0.0.1", "::1"), "http://127.0.0.1:44250"),
    (("::1",), "http://[::1]:44250"),
    ((), "http://127.0.0.1:44250"),
])
def test_rpc_url(hosts, url):
    assert rpc_url(hosts, 44250) == url


RID = "00000000-0000-0000-0000-000000000001"


class FakeRpc:
    """The orchestrator's RPC API as ``hold()`` sees it; ``manage`` may fail."""

    url = "http://127.0.0.1:9"

    def __init__(self, manage_fails: bool = False):
        self.manage_fails = manage_fails
        self.calls: list[tuple[str, str]] = []
        self.steps = [{"step": "Alive", "reason": "healthy", "at": 1.0}]

    def call(self, method, path, body=None, missing_ok=False):
        self.calls.append((method, path))
        if path == "/debug/":
            return {"routers": {}}
        if path == f"/router/update/{RID}":
            self.steps.append({"step": "Exit", "reason": "debug mode: left alone", "at": 2.0})
        if path == f"/router/manage/{RID}" and self.manage_fails:
            raise HoldError(f"orchestrator at {self.url}: database locked (HTTP 503)")
        return {"router": {"steps": self.steps}} if method == "GET" else {}


LEFT = (f"router {RID} left in debug mode: run `astara-ctl router manage {RID}` "
        f"(orchestrator at http://127.0.0.1:9: database locked (HTTP 503))")


def test_a_hold_hands_the_router_back_inside_releasing():
    rpc, seen = FakeRpc(), []

    @contextlib.contextmanager
    def releasing():
        seen.append(("enter", len(rpc.calls)))
        yield
        seen.append(("exit", len(rpc.calls)))

    with hold(rpc, RID, "r", releasing=releasing) as held:
        assert held.acknowledged_at == 2.0
    assert rpc.calls[-1] == ("PUT", f"/router/manage/{RID}")
    assert seen == [("enter", len(rpc.calls) - 1), ("exit", len(rpc.calls))]


def test_a_failed_release_says_the_router_is_left_in_debug_mode():
    with pytest.raises(LeftInDebug) as info, hold(FakeRpc(manage_fails=True), RID, "r"):
        pass
    assert str(info.value) == LEFT and info.value.under_way is None


@pytest.mark.parametrize("under_way", [KeyboardInterrupt(), RuntimeError("a bug"),
                                       HoldError("did not confirm")])
def test_a_failed_release_keeps_the_error_under_way(under_way):
    with pytest.raises(LeftInDebug) as info, hold(FakeRpc(manage_fails=True), RID, "r"):
        raise under_way
    assert str(info.value) == LEFT and info.value.under_way is under_way


@pytest.mark.parametrize("under_way, ends", [
    (None, SystemExit), (KeyboardInterrupt(), SystemExit),
    (HoldError("did not confirm"), ConfigError), (RuntimeError("a bug"), RuntimeError),
])
def test_the_debugger_says_so_in_one_line_and_fails(capsys, under_way, ends):
    with pytest.raises(ends) as info:
        debug_router.left_in_debug(LeftInDebug(RID, "HTTP 503", under_way))
    if ends is SystemExit:
        assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == f"astara-debug-router: router {RID} left in debug mode: run `astara-ctl " \
                  f"router manage {RID}` (HTTP 503)\n"


def test_stop_signals_are_ignored_while_releasing_then_restored():
    before = {s: signal.getsignal(s) for s in debug_router.STOP_SIGNALS}
    assert set(debug_router.STOP_SIGNALS) >= {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    with debug_router.signals_ignored():
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in debug_router.STOP_SIGNALS)
    assert {s: signal.getsignal(s) for s in debug_router.STOP_SIGNALS} == before
