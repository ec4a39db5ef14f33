"""``astara-burnin`` under Keystone: which token may run the admin steps, the APIs' URLs,
``--admin-cloud`` without a cloud, and which login's session the scenario's tenant and
admin connections get."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from astara.burnin import clouds, scenario
from astara.cli import burnin as cli
from astara.common import cloud_auth, service_auth


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
        assert clouds.ADMIN_STEPS[0] in why and "add --admin-cloud NAME" in why


def test_an_admin_cloud_without_the_role_is_told_to_name_another():
    why = clouds.admin_refusal("cloud 'r'", ("reader",), False, admin_cloud=True)
    assert why.startswith("cloud 'r' has no admin role (reader)")
    assert "--admin-cloud must name a cloud with the admin role" in why
    assert "add --admin-cloud" not in why


def test_the_ha_stage_is_named_only_with_ha():
    assert clouds.HA_STEP not in clouds.admin_refusal("cloud 'x'", ("member",), False)
    assert clouds.HA_STEP in clouds.admin_refusal("cloud 'x'", ("member",), True)


class Catalog:
    """A login's catalog: compute's URL with its version path, taken off as
    ``cloud_auth.Login.endpoint`` does."""

    def endpoint(self, service_type: str, suffix: str = "") -> str:
        url = {"compute": "http://c:8774/v2.1"}.get(service_type, f"http://{service_type}:1")
        return service_auth.without_version(url, suffix)


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


@dataclass
class FakeLogin:
    """A ``cloud_auth.Login`` as far as the command reads it; its own session object."""
    where: str
    roles: tuple[str, ...]
    session: object = field(default_factory=object)

    def endpoint(self, service_type: str, suffix: str = "") -> str:
        return f"http://{service_type}:1/"


class Recorder:
    """``Scenario`` as the command builds it: records its connections, runs nothing."""
    made: list[dict] = []

    def __init__(self, o, progress=None, **conns):
        Recorder.made.append(conns)

    def run(self):
        return self

    ok, run_id = True, "x"

    def summary(self) -> dict:
        return {}

    def verdict(self) -> str:
        return "all passed"


@pytest.fixture
def wired(monkeypatch):
    """The command with these logins (by cloud name), as root, each connection its
    session, the scenario a recorder; returns (logins, the logins made, the scenarios)."""
    logins = {"astara": FakeLogin("cloud 'astara'", ("member", "reader")),
              "astara-admin": FakeLogin("cloud 'astara-admin'", ("admin", "member")),
              "astara-reader": FakeLogin("cloud 'astara-reader'", ("reader",))}
    calls: list[str | None] = []

    def login(cloud):
        calls.append(cloud)
        return logins[cloud or os.environ.get("OS_CLOUD") or "astara"]

    for name in ("OS_CLOUD", "OS_AUTH_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cloud_auth, "login", login)
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    monkeypatch.setattr(clouds, "connection", lambda o, session: session)
    monkeypatch.setattr(cli, "Scenario", Recorder)
    monkeypatch.setattr(Recorder, "made", [])
    return logins, calls, Recorder.made


def test_the_tenants_steps_get_the_members_session_the_admin_steps_the_admins(wired):
    logins, calls, made = wired
    assert cli.main(["--os-cloud", "astara", "--admin-cloud", "astara-admin",
                     "--skip-loadbalancer"]) == 0
    assert calls == ["astara", "astara-admin"]
    assert made[0]["user"] is logins["astara"].session
    assert made[0]["admin"] is logins["astara-admin"].session


def test_without_an_admin_cloud_both_get_the_one_session(wired):
    logins, calls, made = wired
    assert cli.main(["--os-cloud", "astara-admin", "--skip-loadbalancer"]) == 0
    assert calls == ["astara-admin"]
    assert made[0]["user"] is made[0]["admin"] is logins["astara-admin"].session


@pytest.mark.parametrize("argv", [["--os-cloud", "astara-admin"], []])
def test_the_same_cloud_named_twice_is_one_login(wired, monkeypatch, argv):
    logins, calls, made = wired
    if not argv:
        monkeypatch.setenv("OS_CLOUD", "astara-admin")
    assert cli.main([*argv, "--admin-cloud", "astara-admin", "--skip-loadbalancer"]) == 0
    assert len(calls) == 1
    assert made[0]["user"] is made[0]["admin"] is logins["astara-admin"].session


def test_an_admin_cloud_without_the_role_is_refused_before_anything(wired, capsys):
    logins, calls, made = wired
    assert cli.main(["--os-cloud", "astara", "--admin-cloud", "astara-reader"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("astara-burnin: cloud 'astara-reader' has no admin role (reader)")
    assert "--admin-cloud must name a cloud with the admin role" in err
    assert made == []


def test_the_keystone_and_noauth_connections_call_the_same_urls():
    from keystoneauth1 import noauth, session

    o = clouds.Options(network_url="http://n:1/", compute_url="http://c:2",
                       loadbalancer_url="http://l:3/")
    token = clouds.connection(o, session.Session(auth=noauth.NoAuth()))
    headers = scenario.connection(o, "p", admin=False)
    urls = [("network", "http://n:1/"), ("compute", "http://c:2/v2.1/"),
            ("load_balancer", "http://l:3/")]
    for conn in (token, headers):
        assert [(t, conn.config.get_endpoint(t)) for t, _ in urls] == urls
