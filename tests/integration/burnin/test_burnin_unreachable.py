"""``astara-burnin`` against services that do not answer: a report, never a traceback.

Nothing listens on the ports given, so the first step (which asks both APIs for an
identity check) fails; the rest are reported skipped and the cleanup, with nothing
made, asks the services nothing.
"""

from __future__ import annotations

from tests.support import free_port

from astara.burnin.scenario import Options, Scenario
from astara.burnin.steps import SKIPPED_AFTER_FAILURE


def test_a_run_named_xyz_against_nothing_reports_the_first_failure():
    port = free_port()  # bound then released: nothing listens there
    url = f"http://127.0.0.1:{port}/"
    lines: list[str] = []
    report = Scenario(Options(network_url=url, compute_url=url, run_id="xyz"),
                      echo=lines.append).run()
    summary = report.summary()
    first, *rest = summary["steps"]
    assert summary["run_id"] == "xyz" and summary["ok"] is False
    assert first["status"] == "fail" and "ConnectError" in first["detail"]
    assert len(rest) == 21  # 15, and the load-balancer stage's 6
    assert {(s["status"], s["detail"]) for s in rest} == {("skipped", SKIPPED_AFTER_FAILURE)}
    assert lines[0].startswith("fail") and len(lines) == 22
    assert report.verdict().startswith("burn-in xyz: FAILED")
