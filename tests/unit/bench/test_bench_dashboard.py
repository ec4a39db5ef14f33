"""bench/dashboard.py's parts on a handful of routers: the page it times shows every
router, and a page missing some is refused rather than timed."""

from __future__ import annotations

import pytest
from bench import dashboard as bench
from tests.dashboard_fake import RPC_TOKEN, settings
from tests.support import Server, free_port

from astara.dashboard.app import create_app


def test_times_the_routers_page_and_checks_its_rows():
    fake = bench.fake_routers(3)
    app = create_app(settings(), b"b" * 32, RPC_TOKEN, transport=fake.transport())
    server = Server(app, free_port()).start()
    try:
        times = bench.time_loads(server.url, 2, 3)
        assert len(times) == 2 and all(t > 0 for t in times)
        with pytest.raises(SystemExit, match="shows 3 routers, not 4"):
            bench.time_loads(server.url, 1, 4)
    finally:
        server.stop()
    assert bench.pct([3.0, 1.0, 2.0], 0.5) == 2.0
