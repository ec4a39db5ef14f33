"""Pid files as the runner reads them: a number, or None for missing, empty or garbage."""

from astara.compute_service.agent.runner import read_pid


def test_pid_files(tmp_path):
    cases = {"written": "4242\n", "empty": "", "garbage": "sh: oops\n", "spaces": "  77  "}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    assert {n: read_pid(tmp_path / n) for n in [*cases, "missing"]} == {
        "written": 4242, "empty": None, "garbage": None, "spaces": 77, "missing": None}
