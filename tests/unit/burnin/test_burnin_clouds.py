"""``astara-burnin`` under Keystone: which token may run the admin steps, the APIs' URLs,
and ``--admin-cloud`` without a cloud."""

from __future__ import annotations

import pytest

from astara.burnin import clouds
from astara.cli import burnin as cli


@pytest.mark.parametrize(("roles", "ha", "refused"), [
    (("admin", "member", "reader"), False, False),
    (("admin",), True, False),
    (("member", "reader"), False, True),
    ((), False, True),
])
def test_only_an_admins_token_runs_the_admin_steps(roles, ha, refused):
    why = clouds.admin_refusal("cloud 'x'", roles, ha)
    assert (why is not None) == refused
    if refused:
        assert why.startswith("cloud 'x' has no admin role (")
        assert clouds.ADMIN_STEPS[0] in why and "--admin-cloud NAME" in why


def test_the_ha_stage_is_named_only_with_ha():
    assert clouds.HA_STEP not in clouds.admin_refusal("cloud 'x'", ("member",), False)
    assert clouds.HA_STEP in clouds.admin_refusal("cloud 'x'", ("member",), True)


class Catalog:
    def endpoint(self, service_type: str, suffix: str = "") -> str:
        return {"compute": "http://c:8774"}.get(service_type, f"http://{service_type}:1")


@pytest.mark.parametrize(("given", "login", "kind", "url"), [
    ("http://given/", Catalog(), "network", "http://given/"),
    (None, None, "network", "http://default/"),
    (None, Catalog(), "network", "http://network:1/"),
    (None, Catalog(), "compute", "http://c:8774/"),
])
def test_an_apis_url_is_the_options_else_the_catalogs(given, login, kind, url):
    assert clouds.api_url(given, login, kind, "http://default/") == url


def test_an_admin_cloud_without_a_cloud_is_a_usage_error(capsys, monkeypatch):
    for name in ("OS_CLOUD", "OS_AUTH_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exc:
        cli.main(["--admin-cloud", "astara-admin"])
    assert exc.value.code == 2
    assert "--admin-cloud needs --os-cloud" in capsys.readouterr().err
