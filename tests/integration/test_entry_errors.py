"""Every ``astara-*`` command given a wrong configuration: one line on stderr, exit 1.

Each command runs as a real process with a valid base configuration (credentials
in place) plus the case's broken file, so it gets as far as the case makes it fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.orchestrator.conftest import write_secret
from tests.support import free_port

BIN = Path(sys.executable).parent
ENTRIES = {  # command -> the arguments that make it do its work
    "astara-network-api": [],
    "astara-dbsync": ["current"],
    "astara-orchestrator": [],
    "astara-aio": [],
    "astara-debug-router": ["--router-id", "00000000-0000-0000-0000-000000000001"],
    "astara-compute-api": [],
    "astara-compute-agent": [],
    "astara-compute-dispatcher": [],
    "astara-compute-manage": ["host-list"],
    "astara-compute-metadata": [],
}
CASES = {  # case -> (extra config file text or None for a missing file, expected words)
    "malformed ini": ("[DEFAULT]\nstate_path\n[database", "malformed config file"),
    "bind_port = abc": ("[network_service]\nbind_port = abc\n",
                        "bind_port in {conf} is not valid"),
    "missing file": (None, "config file not found or unreadable: {conf}"),
    "unreachable database": ("[database]\nconnection = postgresql+psycopg://astara:x@"
                             "127.0.0.1:{port}/astara\n", "database unreachable"),
    "sqlite under a missing directory": ("[database]\nconnection = sqlite:///{state}/no/"
                                         "such/astara.sqlite\n",
                                         "directory {state}/no/such does not exist"),
}


@pytest.fixture
def state(tmp_path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    write_secret(state / "rpc_auth_token", "token")
    write_secret(state / "appliance_auth_key", "key")
    # Nothing listens on these: a command must fail on its configuration, not reach them.
    closed = f"http://127.0.0.1:{free_port()}/"
    (tmp_path / "base.conf").write_text(
        f"[DEFAULT]\nstate_path = {state}\n"
        f"[network_service]\nbind_port = {free_port()}\n"
        f"[compute_service]\nmetadata_secret = s\nnetwork_url = {closed}\n"
        f"bind_port = {free_port()}\nmetadata_port = {free_port()}\n"
        f"[orchestrator]\nnetwork_url = {closed}\ncompute_url = {closed}\n"
        f"rpc_hosts = 127.0.0.1\nrpc_port = {free_port()}\n")
    return state


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", list(ENTRIES))
def test_a_wrong_configuration_is_one_line(command, case, state):
    text, words = CASES[case]
    conf = state.parent / "case.conf"
    port = free_port()
    if text is not None:
        conf.write_text(text.format(port=port, state=state))
    words = words.format(conf=conf, state=state)
    if command == "astara-aio" and case == "unreachable database" and os.geteuid() != 0:
        words = "run it as root"  # it refuses before it opens the database
    r = subprocess.run([str(BIN / command), "--config-file", str(state.parent / "base.conf"),
                        "--config-file", str(conf), *ENTRIES[command]],
                       capture_output=True, text=True, timeout=60, cwd=state.parent,
                       env={**os.environ, "ASTARA_CONFIG_FILES": ""})
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith(f"{command}: "), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert words in r.stderr, r.stderr
    assert not (state / "no").exists()


@pytest.mark.parametrize("case", ["malformed ini", "bind_port = abc", "missing file"])
def test_the_compute_burnin_configuration_is_one_line_too(case, state):
    """The burn-in reaches the services over HTTP only: the file cases are what it reads."""
    text, words = CASES[case]
    conf = state.parent / "case.conf"
    if text is not None:
        conf.write_text(text.replace("network_service", "compute_service"))
    r = subprocess.run([str(BIN / "astara-compute-burnin"), "--config-file", str(conf),
                        "--project-id", "p"], capture_output=True, text=True, timeout=60,
                       cwd=state.parent, env={**os.environ, "ASTARA_CONFIG_FILES": ""})
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("astara-compute-burnin: ") and r.stderr.count("\n") == 1, \
        r.stderr
    assert words.format(conf=conf) in r.stderr, r.stderr


@pytest.mark.parametrize("argv, words", [
    (["astara-ctl", "--token-file", "/nonexistent/token", "router", "list"],
     "RPC token file /nonexistent/token does not exist"),
    (["astara-appliance-agent", "--mode", "host", "--auth-key-file", "/nonexistent/key"],
     "/nonexistent/key does not exist"),
])
def test_commands_without_ini_files_fail_in_one_line_too(argv, words):
    r = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(f"{argv[0]}: ") and r.stderr.count("\n") == 1, r.stderr
    assert words in r.stderr, r.stderr


@pytest.mark.parametrize("cli", [False, True])
def test_aio_takes_its_state_path_from_the_environment(tmp_path, cli):
    """$ASTARA_STATE_PATH beats the ini file's state_path; --state-path beats both."""
    env_state, ini_state, cli_state = (tmp_path / n for n in ("env", "ini", "cli"))
    conf = tmp_path / "aio.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {ini_state}\n[database]\nconnection = "
                    f"postgresql+psycopg://astara:x@127.0.0.1:{free_port()}/astara\n")
    args = ["--state-path", str(cli_state)] if cli else []
    r = subprocess.run([str(BIN / "astara-aio"), "--config-file", str(conf), *args],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "ASTARA_STATE_PATH": str(env_state),
                            "ASTARA_CONFIG_FILES": ""})
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    if os.geteuid() != 0:
        assert "run it as root" in r.stderr
        return
    # It got as far as the database, having made its logs directory in the state path.
    assert "database unreachable" in r.stderr, r.stderr
    used = cli_state if cli else env_state
    assert (used / "logs").is_dir()
    assert not ini_state.exists() and not (env_state if cli else cli_state).exists()
