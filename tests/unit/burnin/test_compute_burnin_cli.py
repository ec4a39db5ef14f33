"""``astara-compute-burnin`` refuses a run id that cannot name its namespaces."""

from __future__ import annotations

from astara.cli import compute_burnin as cli


def test_a_run_id_that_cannot_name_the_probe_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.delenv("ASTARA_CONFIG_FILES", raising=False)
    assert cli.main(["--project-id", "p1", "--run-id", "Probe 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("astara-compute-burnin: --run-id: run id 'Probe 1' must be")
    assert err.count("\n") == 1
