"""`astara-appliance-agent` refuses to start without a usable credential, in one line."""

from __future__ import annotations

import os

import pytest

from astara.appliance import cli


@pytest.fixture(autouse=True)
def keep_umask():
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.mark.parametrize(("args", "message"), [
    (["--mode", "host"], "--auth-key-file is required in host mode"),
    (["--mode", "vm"], "--auth-secret-file is required in vm mode"),
    (["--mode", "host", "--auth-key-file", "{tmp}/nope"],
     "appliance deployment key file {tmp}/nope does not exist"),
    (["--mode", "vm", "--auth-secret-file", "{tmp}/open"],
     "appliance secret file {tmp}/open is readable by other users (mode 0644): chmod 600 it"),
])
def test_agent_without_a_usable_credential_stops_with_one_line(tmp_path, args, message):
    (tmp_path / "open").write_text("s")
    (tmp_path / "open").chmod(0o644)
    with pytest.raises(SystemExit) as err:
        cli.main([a.format(tmp=tmp_path) for a in args])
    assert str(err.value) == "astara-appliance-agent: " + message.format(tmp=tmp_path)


def test_host_mode_derives_each_namespace_secret_from_its_instance_id(tmp_path):
    from astara.wire import auth

    key = tmp_path / "key"
    key.write_text("k3y\n")
    key.chmod(0o600)
    args = cli.parser().parse_args(["--mode", "host", "--auth-key-file", str(key),
                                    "--netns-prefix", "astara-appliance-"])
    secret_for = cli.secret_for(args)
    assert secret_for("astara-appliance-1234") == auth.appliance_secret(b"k3y", "1234")
    assert secret_for("astara-appliance-1234") != secret_for("astara-appliance-5678")
