"""The host agent's long-lived descriptors move above FD_SETSIZE, leaving the low
numbers to libnftables (whose select() aborts the process on a descriptor >= 1024)."""

from __future__ import annotations

import os
import resource
import socket

import pytest

from astara.appliance import high_fds


@pytest.fixture
def limit():
    """Restores the process's open-files limit whatever a test set."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield saved
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_a_lifted_socket_is_numbered_high_keeps_working_and_frees_the_low_number(limit):
    if high_fds.raise_limit(2048) <= high_fds.FD_SETSIZE:
        pytest.fail("this host's hard open-files limit is at most 1024")
    a, b = socket.socketpair()
    b.setblocking(False)
    low = b.fileno()
    moved = high_fds.lift(b)
    try:
        assert moved.fileno() >= high_fds.FD_SETSIZE and b.fileno() == -1
        assert not moved.getblocking()  # its mode is kept
        a.send(b"x")
        assert moved.recv(1) == b"x"
        with pytest.raises(OSError):
            os.fstat(low)  # the low number is free again (nothing else opened meanwhile)
    finally:
        a.close()
        moved.close()


def test_a_lifted_descriptor_is_high_and_close_on_exec(limit):
    if high_fds.raise_limit(2048) <= high_fds.FD_SETSIZE:
        pytest.fail("this host's hard open-files limit is at most 1024")
    r, w = os.pipe()
    high = high_fds.lift_fd(r)
    try:
        assert high >= high_fds.FD_SETSIZE and not os.get_inheritable(high)
        os.write(w, b"y")
        assert os.read(high, 1) == b"y"
    finally:
        os.close(high)
        os.close(w)


def test_where_the_limit_leaves_no_high_number_the_socket_stays(limit):
    soft, hard = limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (high_fds.FD_SETSIZE, hard))
    a, b = socket.socketpair()
    try:
        assert high_fds.lift(b) is b and b.fileno() < high_fds.FD_SETSIZE
    finally:
        a.close()
        b.close()


def test_the_limit_is_raised_never_lowered(limit):
    soft, hard = limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))
    now = high_fds.raise_limit(1500)
    assert now == min(1500, hard) if hard != resource.RLIM_INFINITY else now == 1500
    assert high_fds.raise_limit(100) == now  # asked for less: left as it is
