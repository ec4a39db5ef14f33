"""Operator commands' Keystone credentials (``cloud_auth``): when they are wanted, and
the one line a missing cloud or an unreachable Keystone gives (no Keystone needed)."""

from __future__ import annotations

import pytest

from astara.common import cloud_auth
from astara.common.entry import explain

CLOUDS = """clouds:
  far:
    auth:
      auth_url: http://127.0.0.1:1/v3
      username: admin
      password: secret
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
"""


@pytest.fixture
def clouds(tmp_path, monkeypatch):
    for name in ("OS_CLOUD", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "clouds.yaml"
    path.write_text(CLOUDS)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    return monkeypatch


def test_keystone_only_when_a_cloud_or_an_openrc_says_so(clouds):
    assert not cloud_auth.wanted(None)
    assert cloud_auth.wanted("far")
    clouds.setenv("OS_CLOUD", "far")
    assert cloud_auth.wanted(None)
    clouds.delenv("OS_CLOUD")
    clouds.setenv("OS_AUTH_URL", "http://keystone.invalid/v3")
    assert cloud_auth.wanted(None)


def test_an_unknown_cloud_is_one_line(clouds):
    with pytest.raises(cloud_auth.CloudError) as e:
        cloud_auth.login("nowhere")
    line = explain(e.value)
    assert line is not None and line.startswith("cloud 'nowhere': ") and "\n" not in line


def test_an_unreachable_keystone_is_one_line(clouds):
    with pytest.raises(cloud_auth.CloudError) as e:
        cloud_auth.login("far")
    line = explain(e.value)
    assert line is not None and line.startswith("no token for cloud 'far': ")
    assert "\n" not in line
