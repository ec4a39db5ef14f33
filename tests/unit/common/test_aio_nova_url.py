"""``astara-aio`` points its network API at its compute API for Nova's external events,
unless the operator's files name a ``[network_service] nova_url``."""

from __future__ import annotations

import pytest

from astara.cli import aio
from astara.common.settings import load


@pytest.mark.parametrize("host, port, url", [
    ("127.0.0.1", 8774, "http://127.0.0.1:8774/"),
    ("0.0.0.0", 8774, "http://127.0.0.1:8774/"),
    ("", 9000, "http://127.0.0.1:9000/"),
    ("::", 8774, "http://[::1]:8774/"),
    ("fd00::5", 8774, "http://[fd00::5]:8774/"),
    ("compute.example", 8774, "http://compute.example:8774/"),
])
def test_local_url(host, port, url):
    assert aio.local_url(host, port) == url


def test_the_network_api_is_given_the_compute_api(tmp_path):
    conf, _ = load(["--state-path", str(tmp_path)], prog="t")
    extra = aio._nova_url(conf, tmp_path, "http://127.0.0.1:8774/")
    assert extra == ["--config-file", str(tmp_path / "aio-network.conf")]
    assert (tmp_path / "aio-network.conf").stat().st_mode & 0o077 == 0
    # What the network API then reads from it:
    _, settings = load(["--state-path", str(tmp_path), *extra], prog="astara-network-api")
    assert settings.network.nova_url == "http://127.0.0.1:8774/"
    # Written again at each start (the compute API's port may have changed).
    aio._nova_url(conf, tmp_path, "http://127.0.0.1:9774/")
    _, settings = load(["--state-path", str(tmp_path), *extra], prog="astara-network-api")
    assert settings.network.nova_url == "http://127.0.0.1:9774/"


def test_the_operators_nova_url_is_kept(tmp_path):
    own = tmp_path / "own.conf"
    own.write_text("[network_service]\nnova_url = http://nova.example:8774/\n")
    conf, _ = load(["--state-path", str(tmp_path), "--config-file", str(own)], prog="t")
    assert aio._nova_url(conf, tmp_path, "http://127.0.0.1:8774/") == []
    assert not (tmp_path / "aio-network.conf").exists()
