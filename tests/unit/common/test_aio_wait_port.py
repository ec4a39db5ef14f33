"""``astara-aio`` waits for each child's port: up, exited, or never listening."""

import socket
import subprocess
import sys

import pytest
from tests.support import free_port

from astara.cli.aio import Child, _wait_port


def test_returns_once_the_port_listens():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        _wait_port("127.0.0.1", listener.getsockname()[1], Child("api", []), timeout=5)


def test_a_child_that_exited_is_named_with_its_code():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(SystemExit, match="api exited with 3; see its log"):
        _wait_port("127.0.0.1", free_port(), Child("api", [], proc=proc), timeout=5)


def test_a_port_that_never_listens_is_one_line_after_the_timeout():
    port = free_port()
    with pytest.raises(SystemExit, match=f"api did not listen on 127.0.0.1:{port}"):
        _wait_port("127.0.0.1", port, Child("api", []), timeout=0.3)
