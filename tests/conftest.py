"""Rules for every test suite: in CI a skipped test is a failure.

The functional tests skip without root or a binary they drive (nft, dnsmasq, ...),
which is right on a developer's machine and wrong in CI, where a skip would hide a
test that never ran. ``tools/run-tests`` sets ``ASTARA_NO_SKIP=1`` (so does a CI
runner's ``CI=true``): every skip, at collection or at run time, is then reported
as a failure with its reason. Expected failures (xfail) are left alone.
"""

from __future__ import annotations

import os

import pytest


def skips_fail() -> bool:
    return any(os.environ.get(name, "").lower() not in ("", "0", "false")
               for name in ("ASTARA_NO_SKIP", "CI"))


def _reason(longrepr) -> str:
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _fail_skip(report) -> None:
    if skips_fail() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (f"skipped, and skips fail here (ASTARA_NO_SKIP or CI is set): "
                           f"{_reason(report.longrepr)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    _fail_skip(report)
    # e.g. ``item.rep_call``: a fixture's teardown can tell whether its test failed
    setattr(item, f"rep_{report.when}", report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip(outcome.get_result())
