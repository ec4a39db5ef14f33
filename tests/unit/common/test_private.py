"""Secret files and state-file modes (`astara.common.private`), the appliance secret
derivation (`astara.wire.auth`) and where astara-ctl finds its token."""

from __future__ import annotations

import os
import stat

import pytest

from astara.cli import ctl
from astara.common import private
from astara.wire import auth


def write(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_read_secret_strips_and_returns_bytes(tmp_path):
    assert private.read_secret(write(tmp_path / "t", " s3cret\n")) == b"s3cret"


@pytest.mark.parametrize(("text", "mode", "why"), [
    (None, 0o600, "does not exist"), ("", 0o600, "is empty"), ("\n  \n", 0o600, "is empty"),
    ("x", 0o644, "is readable by other users (mode 0644): chmod 600 it"),
    ("x", 0o640, "is readable by other users (mode 0640): chmod 600 it"),
])
def test_unusable_secret_files_are_one_clear_line(tmp_path, text, mode, why):
    path = tmp_path / "t"
    if text is not None:
        write(path, text, mode)
    with pytest.raises(private.SecretFileError) as err:
        private.read_secret(path, "RPC token")
    assert str(err.value) == f"RPC token file {path} {why}"


def test_ensure_secret_makes_a_private_random_one_once(tmp_path):
    path = tmp_path / "k"
    first = private.ensure_secret(path)
    assert len(first) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert private.ensure_secret(path) == first
    other = private.ensure_secret(tmp_path / "k2")
    assert other != first


def test_tighten_fixes_files_and_directories_and_skips_absent_ones(tmp_path):
    f = write(tmp_path / "db", "x", 0o644)
    d = tmp_path / "logs"
    d.mkdir(mode=0o755)
    private.tighten(f, d, tmp_path / "absent")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_sqlite_database_files_are_private_even_when_left_readable(tmp_path):
    from astara.db.engine import Database

    (tmp_path / "a.sqlite").touch(mode=0o644)
    old = os.umask(0o022)  # as a careless caller would have it
    try:
        db = Database(f"sqlite:///{tmp_path / 'new' / 'b.sqlite'}")
        with db.write() as s:
            s.connection().exec_driver_sql("CREATE TABLE t (x)")
        again = Database(f"sqlite:///{tmp_path / 'a.sqlite'}")
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"a.sqlite", "b.sqlite", "b.sqlite-wal", "b.sqlite-shm",
                                       "b.sqlite.writelock"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {
        p.name: 0o600 for p in files}
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    db.dispose()
    again.dispose()


def test_each_appliance_has_its_own_secret():
    key = b"k"
    a, b = auth.appliance_secret(key, "a"), auth.appliance_secret(key, "b")
    assert a != b and a != auth.appliance_secret(b"k2", "a") and len(a) == 64
    assert auth.is_bearer(f"Bearer {a}", a) and auth.is_bearer(f"bearer {a}", a)
    assert not auth.is_bearer(f"Bearer {b}", a) and not auth.is_bearer(a, a)
    assert not auth.is_bearer(None, a) and not auth.is_bearer("Bearer ", "")


def test_ctl_token_sources_in_order(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    write(state / "rpc_auth_token", "from-state\n")
    given = write(tmp_path / "given", "from-option")
    env_file = write(tmp_path / "env", "from-env-file")
    assert ctl.token(str(given), {"ASTARA_RPC_TOKEN_FILE": str(env_file)}) == "from-option"
    assert ctl.token(None, {"ASTARA_RPC_TOKEN_FILE": str(env_file),
                            "ASTARA_RPC_TOKEN": "t"}) == "from-env-file"
    assert ctl.token(None, {"ASTARA_RPC_TOKEN": "from-env\n",
                            "ASTARA_STATE_PATH": str(state)}) == "from-env"
    assert ctl.token(None, {"ASTARA_STATE_PATH": str(state)}) == "from-state"
    with pytest.raises(SystemExit) as err:
        ctl.token(None, {"ASTARA_STATE_PATH": str(tmp_path)})
    assert str(err.value).startswith(f"astara-ctl: RPC token file {tmp_path}/rpc_auth_token "
                                     "does not exist")


def test_ensure_secret_where_it_cannot_be_written_is_one_line(tmp_path):
    with pytest.raises(private.SecretFileError) as err:
        private.ensure_secret(tmp_path / "missing-dir" / "k", "RPC auth token")
    assert str(err.value) == (f"cannot create RPC auth token file {tmp_path}/missing-dir/k: "
                              "No such file or directory")
