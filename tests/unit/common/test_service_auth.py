"""A service's own Keystone token on its calls (``common.service_auth``)."""

from __future__ import annotations

import httpx
import pytest

from astara.common import service_auth


class FakeAdapter:
    """keystoneauth's Adapter as ServiceToken uses it: a cached token, renewed on demand."""

    service_type = "network"

    def __init__(self, url: str | None = "http://net.example/v2.1/"):
        self.issued = 0
        self.token: str | None = None
        self.url = url

    def get_token(self) -> str:
        if self.token is None:
            self.issued += 1
            self.token = f"tok-{self.issued}"
        return self.token

    def invalidate(self) -> None:
        self.token = None

    def get_endpoint(self) -> str | None:
        return self.url


def test_the_token_is_reused_and_renewed_once_after_a_401():
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers["x-auth-token"]
        seen.append(token)
        # tok-1 "expires" after its second use: the API's answer is then 401.
        return httpx.Response(401 if token == "tok-1" and seen.count(token) > 2 else 200)

    adapter = FakeAdapter()
    client = httpx.Client(transport=httpx.MockTransport(answer),
                          auth=service_auth.ServiceToken(adapter))
    statuses = [client.get("http://net.example/x").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200]
    assert seen == ["tok-1", "tok-1", "tok-1", "tok-2", "tok-2"]
    assert adapter.issued == 2


def test_endpoint_drops_the_version_our_clients_add():
    assert service_auth.endpoint(FakeAdapter(), "/v2.1") == "http://net.example"
    assert service_auth.endpoint(FakeAdapter("http://n:9696"), "/v2.1") == "http://n:9696"


def test_no_auth_type_is_noauth(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("[network]\nendpoint_override = http://n:9696\n")
    assert service_auth.load([str(conf)], "network", "network") is None


def test_a_password_section_loads_an_adapter_with_its_override(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("[network]\nauth_type = password\nauth_url = http://ks:5000/v3\n"
                    "username = astara\npassword = x\nproject_name = service\n"
                    "user_domain_name = Default\nproject_domain_name = Default\n"
                    "endpoint_override = http://n:9696\n")
    adapter = service_auth.load([str(conf)], "network", "network")
    assert adapter is not None
    assert service_auth.endpoint(adapter) == "http://n:9696"  # no catalog asked


def test_keystone_failing_is_an_httpx_transport_error_the_callers_handle():
    from keystoneauth1 import adapter as ks_adapter
    from keystoneauth1 import exceptions as ks_exceptions
    from keystoneauth1 import plugin, session

    class Refused(plugin.BaseAuthPlugin):
        def get_token(self, session, **kwargs):
            raise ks_exceptions.ConnectFailure("Unable to establish connection to ks:5000")

    adapter = ks_adapter.Adapter(session.Session(auth=Refused()), service_type="network")
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)),
                          auth=service_auth.ServiceToken(adapter))
    with pytest.raises(httpx.ConnectError, match="Keystone: Unable to establish") as caught:
        client.get("http://net.example/x")
    assert isinstance(caught.value.__cause__, ks_exceptions.ConnectFailure)


def test_the_session_times_out_after_10_s_unless_the_section_says(tmp_path):
    section = ("[network]\nauth_type = password\nauth_url = http://ks:5000/v3\n"
               "username = astara\npassword = x\nproject_name = service\n"
               "user_domain_name = Default\nproject_domain_name = Default\n")
    conf = tmp_path / "a.conf"
    conf.write_text(section)
    assert service_auth.load([str(conf)], "network", "network").session.timeout == 10
    conf.write_text(section + "timeout = 3\n")
    assert service_auth.load([str(conf)], "network", "network").session.timeout == 3


def test_files_from_config_dir_are_read_for_the_auth_sections(tmp_path):
    from oslo_config import cfg

    from astara.common import opts as common_opts
    from astara.common import settings
    from astara.orchestrator import opts as orchestrator_opts

    main = tmp_path / "astara.conf"
    main.write_text("[DEFAULT]\nauth_strategy = keystone\n")
    d = tmp_path / "astara.conf.d"
    d.mkdir()
    (d / "20-network.conf").write_text(
        "[network]\nauth_type = password\nauth_url = http://ks:5000/v3\nusername = astara\n"
        "password = x\nproject_name = service\nuser_domain_name = Default\n"
        "project_domain_name = Default\nendpoint_override = http://n:9696\n")
    (d / "10-first.conf").write_text("[network]\nendpoint_override = http://old:9696\n")
    (d / "notes.txt").write_text("[network]\nauth_type = none\n")
    conf = cfg.ConfigOpts()
    common_opts.register(conf)
    for group, group_opts in orchestrator_opts.GROUPS.items():
        conf.register_opts(group_opts, group=None if group == "DEFAULT" else group)
    conf(args=["--config-file", str(main), "--config-dir", str(d)],
         default_config_files=[], default_config_dirs=[])
    files = (str(main), str(d / "10-first.conf"), str(d / "20-network.conf"))
    assert settings.from_conf(conf).auth.config_files == files
    assert orchestrator_opts.from_conf(conf).config_files == files
    adapter = service_auth.load(files, "network", "network")
    assert adapter is not None and service_auth.endpoint(adapter) == "http://n:9696"
