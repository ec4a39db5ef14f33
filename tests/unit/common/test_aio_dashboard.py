"""``astara-aio`` points the dashboard at the APIs it runs, unless the operator's files
name them; the dashboard's options are in the groups astara-aio reads."""

from __future__ import annotations

from astara.cli import aio
from astara.common.settings import load
from astara.dashboard import opts as dash_opts
from astara.dashboard import settings as dash_settings

URLS = {"network_url": "http://127.0.0.1:19696/", "compute_url": "http://127.0.0.1:18774/",
        "loadbalancer_url": "http://127.0.0.1:19876/", "rpc_url": "http://127.0.0.1:14250/"}


def _load(tmp_path, *files):
    args = ["--state-path", str(tmp_path)]
    for f in files:
        args += ["--config-file", str(f)]
    return load(args, prog="t", groups={dash_opts.GROUP: dash_opts.dashboard_opts})


def test_defaults_and_secret_paths(tmp_path):
    conf, _ = _load(tmp_path)
    s = dash_settings.from_conf(conf)
    assert (s.bind_host, s.bind_port) == ("127.0.0.1", 8080)
    assert s.session_secret_file == f"{tmp_path}/dashboard_session_secret"
    assert s.rpc_auth_token_file == f"{tmp_path}/rpc_auth_token"
    assert s.admin_password_file == f"{tmp_path}/dashboard_admin_password"
    assert (s.allowed_hosts, s.public_origin) == ((), "")
    assert dash_opts.GROUP in aio.option_groups()


def test_urls_of_the_all_in_one(tmp_path):
    conf, _ = _load(tmp_path)
    extra = aio._dashboard_urls(conf, tmp_path, URLS)
    assert extra == ["--config-file", str(tmp_path / "aio-dashboard.conf")]
    assert (tmp_path / "aio-dashboard.conf").stat().st_mode & 0o077 == 0
    conf, _ = _load(tmp_path, tmp_path / "aio-dashboard.conf")
    s = dash_settings.from_conf(conf)
    assert (s.network_url, s.compute_url, s.loadbalancer_url, s.rpc_url) == tuple(
        URLS.values())


def test_the_operators_urls_stand(tmp_path):
    own = tmp_path / "own.conf"
    own.write_text("[dashboard]\nnetwork_url = http://neutron.example:9696/\n")
    conf, _ = _load(tmp_path, own)
    aio._dashboard_urls(conf, tmp_path, URLS)
    conf, _ = _load(tmp_path, own, tmp_path / "aio-dashboard.conf")
    s = dash_settings.from_conf(conf)
    assert s.network_url == "http://neutron.example:9696/"
    assert s.compute_url == URLS["compute_url"]


def test_the_dashboard_reads_the_orchestrators_rpc_token(tmp_path):
    """The operator's own [orchestrator] rpc_auth_token_file reaches the dashboard too."""
    from types import SimpleNamespace as NS
    net = NS(bind_host="0.0.0.0", bind_port=19696)
    comp = NS(bind_host="127.0.0.1", bind_port=18774)
    lb = NS(bind_host="127.0.0.1", bind_port=19876)
    o = NS(rpc_hosts=["127.0.0.1"], rpc_port=14250,
           rpc_auth_token_file=str(tmp_path / "elsewhere" / "token"))
    wanted = aio.dashboard_options(net, comp, lb, o)
    assert wanted["rpc_auth_token_file"] == o.rpc_auth_token_file
    assert wanted["network_url"] == "http://127.0.0.1:19696/"
    conf, _ = _load(tmp_path)
    aio._dashboard_urls(conf, tmp_path, wanted)
    conf, _ = _load(tmp_path, tmp_path / "aio-dashboard.conf")
    s = dash_settings.from_conf(conf)
    assert s.rpc_auth_token_file == o.rpc_auth_token_file
    assert s.rpc_url == "http://127.0.0.1:14250/"
