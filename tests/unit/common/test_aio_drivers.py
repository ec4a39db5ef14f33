"""``astara-aio`` runs the orchestrator with both drivers, unless the operator's files
name ``[DEFAULT] enabled_drivers``."""

from __future__ import annotations

from astara.cli import aio
from astara.common.settings import load
from astara.orchestrator import opts as orch_opts


def _conf(tmp_path, *files):
    args = ["--state-path", str(tmp_path)]
    for f in files:
        args += ["--config-file", str(f)]
    conf, _ = load(args, prog="t", groups=aio.option_groups())
    return conf


def test_aio_reads_what_it_starts_its_children_with(tmp_path):
    conf = _conf(tmp_path)
    assert conf.loadbalancer_service.bind_port == 9876
    assert conf.compute_service.bind_port == 8774
    assert conf.enabled_drivers == ["router"] and conf.orchestrator.rpc_port == 44250


def test_both_drivers_by_default(tmp_path):
    extra = aio._drivers(_conf(tmp_path), tmp_path)
    assert extra == ["--config-file", str(tmp_path / "aio-drivers.conf")]
    assert (tmp_path / "aio-drivers.conf").stat().st_mode & 0o077 == 0
    # what the orchestrator then reads from it
    conf = _conf(tmp_path, tmp_path / "aio-drivers.conf")
    assert orch_opts.from_conf(conf).enabled_drivers == ("router", "loadbalancer")


def test_the_operators_choice_stands_even_the_default_value(tmp_path):
    own = tmp_path / "own.conf"
    own.write_text("[DEFAULT]\nenabled_drivers = router\n")
    assert aio._drivers(_conf(tmp_path, own), tmp_path) == []
    assert not (tmp_path / "aio-drivers.conf").exists()
