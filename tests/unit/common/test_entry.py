"""The one-line rule for entry points: which errors an operator reads as one line."""

from __future__ import annotations

import httpx
import pytest
from oslo_config import cfg
from sqlalchemy import create_engine
from sqlalchemy import exc as sa_exc

from astara.cli import aio
from astara.common import entry
from astara.common.settings import database_url, load, sqlite_file_of
from astara.compute_service import settings as compute_settings


def _parse_error() -> cfg.ConfigFileParseError:
    return cfg.ConfigFileParseError("/etc/a.ini", "at /etc/a.ini:2, No ':' or '=' found")


def _value_error() -> cfg.ConfigFileValueError:
    return cfg.ConfigFileValueError(
        "Value for option bind_port from LocationInfo(location=<Locations.user: (4, True)>, "
        "detail='/etc/a.ini') is not valid: invalid literal for int() with base 10: 'abc'")


def _db_error() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, OSError(
        "connection failed: connection refused\n\tIs the server running?"))


@pytest.mark.parametrize("exc, line", [
    (entry.ConfigError("[x] y is wrong\n  really"), "[x] y is wrong really"),
    (cfg.ConfigFilesNotFoundError(["/etc/none.ini"]),
     "config file not found or unreadable: /etc/none.ini"),
    (_parse_error(), "malformed config file /etc/a.ini: at /etc/a.ini:2, No ':' or '=' found"),
    (_value_error(), "Value for option bind_port in /etc/a.ini is not valid: invalid literal "
                     "for int() with base 10: 'abc'"),
    (cfg.RequiredOptError("router-id"), "value required for option router-id in group "
                                        "[DEFAULT]"),
    (_db_error(), "database unreachable or unusable ([database] connection): connection "
                  "failed: connection refused"),
    (PermissionError(13, "Permission denied", "/var/lib/astara/logs"),
     "Permission denied: /var/lib/astara/logs (run as the service's user, or change "
     "state_path)"),
    (PermissionError(13, "Permission denied", "/etc/astara/astara.conf"),
     "Permission denied: /etc/astara/astara.conf (run as the service's user, or change "
     "state_path)"),
    (sa_exc.InterfaceError("SELECT 1", {}, OSError("connection closed")),
     "database unreachable or unusable ([database] connection): connection closed"),
])
def test_operator_errors_are_one_line(exc, line):
    assert entry.explain(exc, paths=OPERATOR_PATHS) == line


OPERATOR_PATHS = ["/var/lib/astara", "/etc/astara/astara.conf"]


@pytest.mark.parametrize("exc", [
    # The program's bugs, though raised by the same libraries as an operator's mistakes.
    sa_exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: ports.id")),
    sa_exc.ProgrammingError("SELECT x", {}, Exception("no such column: x")),
    cfg.NoSuchOptError("nope", "DEFAULT"),
    cfg.DuplicateOptError("state_path"),
    cfg.NoSuchGroupError("nope"),
    PermissionError(13, "Permission denied", "/proc/sys/net/ipv4/ip_forward"),
    PermissionError(13, "Permission denied", "/var/lib/astara-other/x"),  # a sibling, not under
    PermissionError(13, "Permission denied", "/etc/astara/other.conf"),
])
def test_bugs_of_operator_libraries_are_not_explained(exc):
    assert entry.explain(exc, paths=OPERATOR_PATHS) is None


def test_settings_load_notes_the_state_path_and_config_files(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\n")
    load(["--config-file", str(conf)], prog="astara-x")
    assert entry.explain(PermissionError(13, "Permission denied",
                                         str(tmp_path / "state" / "bus"))) is not None
    assert entry.explain(PermissionError(13, "Permission denied", str(conf))) is not None
    assert entry.explain(PermissionError(13, "Permission denied", "/proc/sys/x")) is None


def test_an_unreachable_service_is_named():
    exc = httpx.ConnectError("[Errno 111] Connection refused",
                             request=httpx.Request("GET", "http://127.0.0.1:9/v2.0/networks"))
    assert entry.explain(exc) == ("cannot reach http://127.0.0.1:9/v2.0/networks (check the "
                                  "service URLs in the config): [Errno 111] Connection refused")


def test_a_bad_url_is_named():
    with pytest.raises(sa_exc.ArgumentError) as info:
        create_engine("not a url")
    assert entry.explain(info.value).startswith("[database] connection is not a usable URL")


@pytest.mark.parametrize("exc", [KeyError("x"), ValueError("bug"), PermissionError("no file"),
                                 RuntimeError("boom")])
def test_bugs_keep_their_traceback(exc):
    assert entry.explain(exc) is None

    @entry.one_line_errors("astara-x")
    def main():
        raise exc

    with pytest.raises(type(exc)):
        main()


def test_decorated_main_exits_with_the_line():
    @entry.one_line_errors("astara-x")
    def main(argv=None):
        raise entry.ConfigError(f"bad {argv}")

    with pytest.raises(SystemExit) as info:
        main(["a"])
    assert info.value.code == "astara-x: bad ['a']"


@pytest.mark.parametrize("url, path", [
    ("sqlite:////var/lib/a.sqlite", "/var/lib/a.sqlite"),
    ("sqlite:///rel/a.sqlite?timeout=3", "rel/a.sqlite"),
    ("sqlite:///:memory:", None), ("sqlite://", None),
    ("postgresql+psycopg://u:p@h/db", None),
])
def test_sqlite_file_of(url, path):
    found = sqlite_file_of(url)
    assert (str(found) if found else None) == path


def test_sqlite_under_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(entry.ConfigError, match="does not exist"):
        database_url(f"sqlite:///{tmp_path}/missing/a.sqlite", tmp_path)
    assert not (tmp_path / "missing").exists()
    assert database_url(f"sqlite:///{tmp_path}/a.sqlite", tmp_path) == \
        f"sqlite:///{tmp_path}/a.sqlite"
    # The embedded default lives in the state path, which the services create.
    assert database_url("", tmp_path / "new") == f"sqlite:///{tmp_path}/new/astara.sqlite"


@pytest.mark.parametrize("args, env, expected", [
    ([], {}, []),
    ([], {"ASTARA_STATE_PATH": "/s"}, ["--state-path", "/s"]),
    (["--config-file", "f"], {"ASTARA_STATE_PATH": "/s"},
     ["--config-file", "f", "--state-path", "/s"]),
    (["--state-path", "/c"], {"ASTARA_STATE_PATH": "/s"}, ["--state-path", "/c"]),
    (["--state-path=/c"], {"ASTARA_STATE_PATH": "/s"}, ["--state-path=/c"]),
    ([], {"ASTARA_STATE_PATH": ""}, []),
])
def test_aio_state_path_from_the_environment(args, env, expected):
    assert aio.with_state_path(args, env) == expected


@pytest.mark.parametrize("value, words", [
    ("proj:abc", "quota_instances_overrides: proj:abc is not project:limit"),
    ("a:3,proj:", "quota_instances_overrides: proj: is not project:limit"),
])
def test_a_wrong_quota_override_is_one_line(tmp_path, value, words):
    conf = tmp_path / "c.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n"
                    f"[compute_service]\nquota_instances_overrides = {value}\n")
    with pytest.raises(entry.ConfigError) as info:
        compute_settings.load(["--config-file", str(conf)], prog="astara-compute-api")
    assert words in entry.explain(info.value)
    assert "\n" not in entry.explain(info.value)


def test_quota_overrides_are_integers():
    assert compute_settings.quota_overrides({"a": "-1", "b": "3"}) == (("a", -1), ("b", 3))
