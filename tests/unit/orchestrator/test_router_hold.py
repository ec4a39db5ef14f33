"""The rules ``astara-debug-router`` borrows a router by: which pass confirms the hold."""

from __future__ import annotations

import pytest

from astara.cli.router_hold import last_debug_exit, rpc_url


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
