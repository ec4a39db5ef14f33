"""Every unit test leaves the process umask as it found it.

Entry points call ``private.restrict_umask()`` (077) before they check their
arguments; a unit test that runs one must not leave later tests — the functional
ones share the process in CI, and dnsmasq runs as another user — creating
private files by accident.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def keep_umask():
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)
