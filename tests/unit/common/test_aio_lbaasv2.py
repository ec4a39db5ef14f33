"""``astara-aio`` starts the network API with the Neutron LBaaS v2 paths on, unless
the operator's files set ``[loadbalancer_service] neutron_lbaasv2``."""

from __future__ import annotations

from astara.cli import aio
from astara.common.settings import load
from astara.loadbalancer_service import opts as lb_opts
from astara.loadbalancer_service import settings as lb_settings


def _load(tmp_path, *files):
    args = ["--state-path", str(tmp_path)]
    for f in files:
        args += ["--config-file", str(f)]
    return load(args, prog="t", groups={lb_opts.GROUP: lb_opts.loadbalancer_opts})


def test_off_unless_configured(tmp_path):
    conf, base = _load(tmp_path)
    assert lb_settings.from_conf(conf, base).neutron_lbaasv2 is False


def test_on_in_the_all_in_one(tmp_path):
    conf, _ = _load(tmp_path)
    extra = aio._lbaasv2(conf, tmp_path)
    assert extra == ["--config-file", str(tmp_path / "aio-lbaasv2.conf")]
    assert (tmp_path / "aio-lbaasv2.conf").stat().st_mode & 0o077 == 0
    conf, base = _load(tmp_path, tmp_path / "aio-lbaasv2.conf")  # what the network API reads
    assert lb_settings.from_conf(conf, base).neutron_lbaasv2 is True


def test_the_operators_choice_stands(tmp_path):
    own = tmp_path / "own.conf"
    own.write_text("[loadbalancer_service]\nneutron_lbaasv2 = false\n")
    conf, _ = _load(tmp_path, own)
    assert aio._lbaasv2(conf, tmp_path) == []
    assert not (tmp_path / "aio-lbaasv2.conf").exists()
